// Command pulumi-language-python is a minimal Python language host for the Pulumi engine.
//
// Why ours: the Go module proxy refuses github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
// (403 for every version), so the upstream host cannot be built here. This host does what the upstream one
// does for `pulumi up/preview/refresh/destroy` of a project with a virtualenv: it runs the SDK's own
// `pulumi-language-python-exec` (installed next to this binary from module github.com/pulumi/pulumi/sdk/v3)
// with the virtualenv's interpreter, passing the run settings as flags and the stack config as
// PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS, exactly as the SDK's exec script reads them. Everything a
// user would need beyond that (dependency installation, plugin discovery, code generation) is left
// unimplemented: `make dev` makes the virtualenv, and our program needs no plugin but the dynamic one.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is stamped at build time with -ldflags "-X main.version=...": the engine version it ships with.
var version = "0.0.0-dev"

// exitShowedUserMessage is the exec script's exit code for "an error was already shown to the user".
const exitShowedUserMessage = 32

func main() {
	// The engine passes flags it gives every plugin, then its own address last.
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "pulumi-language-python: missing the engine address argument")
		os.Exit(1)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: cannot find itself: %v\n", err)
		os.Exit(1)
	}
	host := &languageHost{
		engineAddress: args[len(args)-1],
		execScript:    filepath.Join(filepath.Dir(self), "pulumi-language-python-exec"),
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: cannot serve: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port) // the engine reads the port from our first line of stdout
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: stopped serving: %v\n", err)
		os.Exit(1)
	}
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	engineAddress string
	execScript    string
}

func (h *languageHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// GetRequiredPlugins and GetRequiredPackages report none: the program uses only dynamic providers,
// whose plugin (pulumi-resource-pulumi-python) the engine finds on PATH.
func (h *languageHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *languageHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

// InstallDependencies installs nothing: the project's virtualenv is made by `make dev`.
func (h *languageHost) InstallDependencies(
	*pulumirpc.InstallDependenciesRequest, grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	return nil
}

func (h *languageHost) GetProgramDependencies(
	context.Context, *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *languageHost) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *languageHost) About(_ context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	return &pulumirpc.AboutResponse{Executable: pythonFor(req.GetInfo())}, nil
}

// Run runs the program once through the SDK's exec script and reports how it ended.
func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("serialising the stack config: %w", err)
	}
	secretKeys, err := json.Marshal(req.GetConfigSecretKeys())
	if err != nil {
		return nil, fmt.Errorf("serialising the secret config keys: %w", err)
	}
	python := pythonFor(req.GetInfo())
	cmd := exec.CommandContext(ctx, python, append([]string{"-u", h.execScript}, h.execArgs(req)...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(programEnv(python), "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == exitShowedUserMessage:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exitErr):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run %s: %v", python, err)}, nil
	}
}

// execArgs are the flags the SDK's pulumi-language-python-exec parses, then the program and its arguments.
func (h *languageHost) execArgs(req *pulumirpc.RunRequest) []string {
	var args []string
	add := func(flag, value string) {
		if value != "" {
			args = append(args, "--"+flag, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("organization", req.GetOrganization())
	add("root_directory", req.GetInfo().GetRootDirectory())
	program := req.GetInfo().GetProgramDirectory()
	if program == "" {
		program = "."
	}
	return append(append(args, program), req.GetArgs()...)
}

// pythonFor is the interpreter of the project's virtualenv (Pulumi.yaml runtime option `virtualenv`,
// relative to the project root), or python3 from PATH when the project names none.
func pythonFor(info *pulumirpc.ProgramInfo) string {
	venv := info.GetOptions().GetFields()["virtualenv"].GetStringValue()
	if venv == "" {
		return "python3"
	}
	if !filepath.IsAbs(venv) {
		venv = filepath.Join(info.GetRootDirectory(), venv)
	}
	return filepath.Join(venv, "bin", "python")
}

// programEnv is this process's environment with the virtualenv activated as `source bin/activate` would.
func programEnv(python string) []string {
	env := os.Environ()
	if !filepath.IsAbs(python) {
		return env
	}
	bin := filepath.Dir(python)
	activated := make([]string, 0, len(env)+2)
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "VIRTUAL_ENV=") || strings.HasPrefix(kv, "PYTHONHOME=") {
			continue
		}
		activated = append(activated, kv)
	}
	return append(activated, "VIRTUAL_ENV="+filepath.Dir(bin), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}
