package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"kimi-infra/engine/internal/warm"
)

// warmOption is the runtime option of Pulumi.yaml that asks for a warm dynamic-provider python: only a
// project whose program registers dynamic resources gains from one; any other would pay for a python it
// never uses.
const warmOption = "warmDynamicProvider"

// wantsWarmProvider reads the warmOption of Pulumi.yaml: true or false, false when absent.
func wantsWarmProvider(info *pulumirpc.ProgramInfo) (bool, error) {
	value, ok := info.GetOptions().AsMap()[warmOption]
	if !ok {
		return false, nil
	}
	on, isBool := value.(bool)
	if !isBool {
		return false, fmt.Errorf("Pulumi.yaml: runtime option `%s: %v` must be true or false", warmOption, value)
	}
	return on, nil
}

// offerWarmProvider starts the python that the dynamic-provider plugin would start (what the SDK's launcher
// runs: the virtualenv's `python -u -m pulumi.dynamic`, in the same folder, with the environment the engine
// gives that plugin) and offers it to our plugin wrapper for the rest of this Run (package warm). Nil when
// there is nothing to offer: the project names no virtualenv (the launcher's uv, poetry and PATH cases are
// left to it) or the python cannot start; the plugin then starts as it always did.
func (h *languageHost) offerWarmProvider(req *pulumirpc.RunRequest) *warm.Offer {
	options := req.GetInfo().GetOptions().AsMap()
	venv, ok := options["virtualenv"].(string)
	if !ok || venv == "" {
		return nil
	}
	dir := req.GetPwd()
	pluginEnv := os.Environ()
	for name, value := range options { // as the engine passes runtime options to every provider plugin
		pluginEnv = append(pluginEnv, fmt.Sprintf("PULUMI_RUNTIME_%s=%v", strings.ToUpper(name), value))
	}
	if req.GetProject() != "" {
		pluginEnv = append(pluginEnv, "PULUMI_PROJECT="+req.GetProject())
	}
	pluginEnv = append(pluginEnv, "PULUMI_CONFIG="+providerConfig(req.GetConfig()))
	venv = strings.TrimSuffix(venv, "/")
	if !filepath.IsAbs(venv) {
		venv = dir + "/" + venv // the launcher's $PWD/venv, unnormalised, so python sees the same path
	}
	python := venv + "/bin/python"
	if info, err := os.Stat(python); err != nil || !info.Mode().IsRegular() {
		return nil
	}
	argv := []string{python, "-u", "-m", "pulumi.dynamic", h.currentEngine()}
	offer, err := warm.Start(h.currentEngine(), argv, dir, launcherEnv(pluginEnv, venv), warm.Fingerprint(dir, pluginEnv))
	if err != nil {
		return nil
	}
	return offer
}

// providerConfig is the stack config the engine gives the plugin of package pulumi-python: its keys of that
// namespace, by name, as JSON (`{}` when there are none).
func providerConfig(config map[string]string) string {
	own := map[string]string{}
	for key, value := range config {
		if namespace, name, ok := strings.Cut(key, ":"); ok && namespace == "pulumi-python" {
			own[name] = value
		}
	}
	text, _ := json.Marshal(own) // a map of strings always marshals
	return string(text)
}

// launcherEnv is env as the SDK's launcher changes it before it runs the virtualenv's python: the
// virtualenv made absolute and first on PATH, no PYTHONHOME.
func launcherEnv(env []string, venv string) []string {
	path := ""
	out := make([]string, 0, len(env)+2)
	for _, entry := range env {
		switch name, value, _ := strings.Cut(entry, "="); name {
		case "PYTHONHOME", "PATH", "PULUMI_RUNTIME_VIRTUALENV":
			if name == "PATH" {
				path = value
			}
		default:
			out = append(out, entry)
		}
	}
	return append(out, "PATH="+venv+"/bin:"+path, "PULUMI_RUNTIME_VIRTUALENV="+venv)
}
