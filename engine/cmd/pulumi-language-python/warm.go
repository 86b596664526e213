package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"kimi-infra/engine/internal/warm"
)

// warmOption is the runtime option of Pulumi.yaml that asks for a warm dynamic-provider python: only a
// project whose program registers dynamic resources gains from one; any other would pay for a python it
// never uses. `true` runs the SDK's server module; a module name runs that module instead, which must serve
// as the SDK's does (say, the SDK's server with the project's providers imported ahead of the first call).
const warmOption = "warmDynamicProvider"

// serverModule is what `python -m` runs for the plugin: the SDK's dynamic-provider server.
const serverModule = "pulumi.dynamic"

var moduleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// warmModule reads the warmOption of Pulumi.yaml: the module a warm python runs, "" for none (absent, false).
func warmModule(info *pulumirpc.ProgramInfo) (string, error) {
	switch value := info.GetOptions().AsMap()[warmOption].(type) {
	case nil:
		return "", nil
	case bool:
		if value {
			return serverModule, nil
		}
		return "", nil
	case string:
		if moduleName.MatchString(value) {
			return value, nil
		}
	}
	return "", fmt.Errorf("Pulumi.yaml: unsupported runtime option `%s: %v`; use true, false or a Python module name",
		warmOption, info.GetOptions().AsMap()[warmOption])
}

// offerWarmProvider starts the python that the dynamic-provider plugin would start (what the SDK's launcher
// runs: the virtualenv's `python -u -m pulumi.dynamic`, or the module the option names, in the same folder, with the environment the engine
// gives that plugin) and offers it to our plugin wrapper for the rest of this Run (package warm). Nil when
// there is nothing to offer: the project names no virtualenv (the launcher's uv, poetry and PATH cases are
// left to it) or the python cannot start; the plugin then starts as it always did.
func (h *languageHost) offerWarmProvider(req *pulumirpc.RunRequest, module string) *warm.Offer {
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
	argv := []string{python, "-u", "-m", module, h.currentEngine()}
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
