// Command pulumi-language-python is our Python language host for the Pulumi engine.
//
// Why ours: the Go module proxy refuses github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
// (403 for every version), so the upstream host cannot be built here. Ours follows upstream's
// (sdk/python/cmd/pulumi-language-python/main.go) for the commands users run, on the same building blocks:
// the SDK's toolchain package (github.com/pulumi/pulumi/sdk/v3/python/toolchain: pip, poetry and uv, the
// `virtualenv`, `toolchain` and `typechecker` options of Pulumi.yaml) and the SDK's own
// `pulumi-language-python-exec`, installed next to this binary. It runs the program at its `main:` entry
// point with the stack config in PULUMI_CONFIG (`{}` when the stack has none), cancels it with SIGINT and a
// grace period (Cancel RPC, or the engine's request ending), installs dependencies, reports the plugins the
// installed packages need, answers About, and exits when the engine dies. It does not generate code, pack
// SDKs, run Python plugins or policy packs, or attach a debugger: those RPCs answer Unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"kimi-infra/engine/internal/enginewatch"
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
	host := newLanguageHost(args[len(args)-1], filepath.Join(filepath.Dir(self), "pulumi-language-python-exec"))
	if err := host.watchEngine(); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: cannot watch the engine: %v\n", err)
		os.Exit(1)
	}
	// SIGINT (the engine interrupts our process group when it closes us): stop serving once the running
	// program, which got the same SIGINT, has ended, as upstream does.
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt)
	go func() {
		<-interrupted
		host.stop()
	}()
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: host.stopped,
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

	execScript string

	mu            sync.Mutex
	engineAddress string
	watching      string // the engine address whose health is watched

	// cancelCtx ends on the Cancel RPC or when the engine dies: every running program gets SIGINT.
	cancelCtx context.Context
	cancel    context.CancelFunc
	stopped   chan bool // closed to stop serving (in-flight RPCs finish first)
	stopOnce  sync.Once
}

func newLanguageHost(engineAddress, execScript string) *languageHost {
	ctx, cancel := context.WithCancel(context.Background())
	return &languageHost{
		execScript: execScript, engineAddress: engineAddress,
		cancelCtx: ctx, cancel: cancel, stopped: make(chan bool),
	}
}

func (h *languageHost) stop() {
	h.stopOnce.Do(func() { close(h.stopped) })
}

// watchEngine starts watching the current engine address, once per address: when the engine dies (say
// `kill -9` of pulumi), the running program gets SIGINT, then SIGKILL after the grace period, and the host
// exits. Without this the host and its program outlived the engine for ever.
func (h *languageHost) watchEngine() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.engineAddress == "" || h.engineAddress == h.watching {
		return nil
	}
	h.watching = h.engineAddress
	return enginewatch.Watch(h.engineAddress, func() {
		// Nothing is written: stdout and stderr were pipes to the engine, and a write to them now is SIGPIPE.
		h.cancel()
		h.stop()
	})
}

func (h *languageHost) currentEngine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

func (h *languageHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.mu.Lock()
		h.engineAddress = req.GetEngineAddress()
		h.mu.Unlock()
		if err := h.watchEngine(); err != nil {
			return nil, fmt.Errorf("could not watch the engine's health: %w", err)
		}
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// Cancel stops every running program gracefully (SIGINT, then SIGKILL after the grace period), as the
// engine asks on the first Ctrl-C or when an update is cancelled.
func (h *languageHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancel()
	return &emptypb.Empty{}, nil
}

// Run runs the program once through the SDK's exec script and reports how it ended.
func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, opts, err := resolve(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	if err := typecheck(ctx, tc, opts, req.GetInfo()); err != nil {
		return nil, err
	}
	config, secretKeys, err := configEnv(req)
	if err != nil {
		return nil, err
	}
	module, err := warmModule(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if module != "" {
		defer h.offerWarmProvider(req, module).Stop() // while the program runs; unclaimed, it dies with the Run
	}
	// The program stops when the Cancel RPC comes, the engine dies (cancelCtx) or the engine ends this call.
	runCtx, stopRun := context.WithCancel(h.cancelCtx)
	defer stopRun()
	context.AfterFunc(ctx, stopRun)
	cmd, err := tc.Command(runCtx, append([]string{"-u", h.execScript}, h.execArgs(req)...)...)
	if err != nil {
		return nil, err
	}
	// Cancel as upstream does: SIGINT so the program can finish what it is doing (Pulumi's SDK and any
	// handler it installed see KeyboardInterrupt), and SIGKILL only after the grace period.
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = enginewatch.GracePeriod
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// The program dies with this host. The engine kills a host it closes 5 s after interrupting it, which
	// under load comes before our own grace period ends; a program that left our process group and ignores
	// SIGINT then lived on holding the engine's stdout and stderr pipes, and the engine waits for those to
	// close (a cancelled `up` hung until the program ended by itself). Linux sends it when the thread that
	// started the program ends, so this goroutine keeps its thread until the program has ended.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	// Set even when empty: an inherited PULUMI_CONFIG must not reach a program whose stack has no config.
	cmd.Env = append(env, "PULUMI_CONFIG="+config, "PULUMI_CONFIG_SECRET_KEYS="+secretKeys)
	err = cmd.Run()
	_ = os.Stdout.Sync() // a program that crashed fast: its last words reach the engine before our answer
	_ = os.Stderr.Sync()
	return runResponse(err, runCtx.Err() != nil), nil
}

// runResponse turns how the program ended into the engine's answer.
func runResponse(err error, cancelled bool) *pulumirpc.RunResponse {
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}
	case errors.As(err, &exitErr) && exitErr.ExitCode() == exitShowedUserMessage:
		return &pulumirpc.RunResponse{Bail: true}
	case cancelled:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program cancelled (sent SIGINT): %v", err)}
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", exitErr.ExitCode())}
	case errors.As(err, &exitErr):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited unexpectedly: %v", exitErr)}
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("problem executing program (could not run language executor): %v", err)}
	}
}

// configEnv is the stack config and its secret keys as the SDK reads them from PULUMI_CONFIG and
// PULUMI_CONFIG_SECRET_KEYS: JSON objects and arrays, `{}` and `[]` when the stack has none (the engine
// sends nil then, which json.Marshal would turn into `null`, and the SDK fails on `null`).
func configEnv(req *pulumirpc.RunRequest) (string, string, error) {
	config := req.GetConfig()
	if config == nil {
		config = map[string]string{}
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return "", "", fmt.Errorf("serialising the stack config: %w", err)
	}
	keysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return "", "", fmt.Errorf("serialising the secret config keys: %w", err)
	}
	return string(configJSON), string(keysJSON), nil
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
	add("engine", h.currentEngine())
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("organization", req.GetOrganization())
	return append(append(args, entryPoint(req.GetInfo())), req.GetArgs()...)
}

// entryPoint is the program to run: the engine resolves `main:` of Pulumi.yaml (relative to the project)
// into a program directory and an entry point in it ("." for the directory's __main__.py, or a file name).
// The path is absolute so that it does not depend on the working directory the exec script starts in.
func entryPoint(info *pulumirpc.ProgramInfo) string {
	entry := info.GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	if dir := info.GetProgramDirectory(); dir != "" && !filepath.IsAbs(entry) {
		return filepath.Join(dir, entry)
	}
	return entry
}

// InstallDependencies installs the project's dependencies with its toolchain, as upstream does: for pip,
// it creates the virtualenv that Pulumi.yaml names if needed and installs requirements.txt into it.
func (h *languageHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	if req.GetIsPlugin() {
		return errors.New("this language host installs dependencies of programs only, not of Python plugins")
	}
	tc, _, err := resolve(req.GetInfo())
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()
	fmt.Fprint(stdout, "Installing dependencies...\n\n")
	if err := tc.InstallDependencies(server.Context(), req.GetInfo().GetProgramDirectory(),
		req.GetUseLanguageVersionTools(), true /* showOutput */, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprint(stdout, "Finished installing dependencies\n\n")
	return closer.Close()
}

// About names the interpreter, its version and the toolchain's, as `pulumi about` shows them.
func (h *languageHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	opts := toolchain.PythonOptions{Toolchain: toolchain.Pip}
	if req.GetInfo() != nil {
		parsed, err := parseOptions(req.GetInfo())
		if err != nil {
			return nil, err
		}
		opts = parsed
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	info, err := about(ctx, tc)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata: map[string]string{
			"toolchain":        toolchain.Name(opts.Toolchain),
			"toolchainVersion": info.ToolchainVersion.String(),
			"typechecker":      toolchain.TypeCheckerName(opts.Typechecker),
		},
	}, nil
}

// GetProgramDependencies lists the packages installed in the program's environment (`pulumi about`).
func (h *languageHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, _, err := resolve(req.GetInfo())
	if err != nil {
		return nil, err
	}
	packages, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("failed to get python dependencies: %w", err)
	}
	dependencies := make([]*pulumirpc.DependencyInfo, len(packages))
	for i, dep := range packages {
		dependencies[i] = &pulumirpc.DependencyInfo{Name: dep.Name, Version: dep.Version}
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: dependencies}, nil
}

// RuntimeOptionsPrompts asks nothing: Pulumi.yaml's runtime options are written by hand.
func (h *languageHost) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}
