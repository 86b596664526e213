package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// aboutScript prints, in one interpreter start, what About reports for the pip toolchain: the interpreter's
// path, its version (as `python --version` gives it) and `pip <version>` (empty when pip is not installed).
// Upstream's pip toolchain starts the interpreter three times for it, once as `python -m pip --version`,
// which imports pip: 0.3 s of CPU on every up, preview, refresh and destroy (the engine asks About for each
// update's metadata, from a language host of its own). Its first line is empty: what a sitecustomize printed
// without a newline of its own ends there, not glued onto the path.
const aboutScript = `import importlib.metadata, sys
try:
	pip = 'pip ' + importlib.metadata.version('pip')
except importlib.metadata.PackageNotFoundError:
	pip = ''
print()
print(sys.executable)
print(sys.version.split()[0])
print(pip)`

// usesPip tells whether tc is the pip toolchain: Pulumi.yaml's `toolchain: pip`, or the default (auto) where
// ResolveToolchain found neither uv.lock nor poetry.lock. Its type is unexported, hence the name; should upstream
// rename it, About is upstream's again: slower, same answer.
func usesPip(tc toolchain.Toolchain) bool {
	return fmt.Sprintf("%T", tc) == "*toolchain.pip"
}

// about is tc.About, from aboutScript for the pip toolchain. As upstream's, it fails only when the
// interpreter cannot be run; a version it cannot read is left empty (and logged).
func about(ctx context.Context, tc toolchain.Toolchain) (toolchain.Info, error) {
	if !usesPip(tc) {
		return tc.About(ctx)
	}
	cmd, err := tc.Command(ctx, "-c", aboutScript)
	if err != nil {
		return toolchain.Info{}, err
	}
	out, err := cmd.Output()
	if err != nil {
		return toolchain.Info{}, fmt.Errorf("failed to ask %s what About reports: %w", cmd.Path, err)
	}
	// The script's answers are the last three lines (a sitecustomize may print before them, ending on the
	// script's empty first line); the last one is empty without pip.
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) < 3 {
		return toolchain.Info{}, fmt.Errorf("unexpected answer from %s: %q", cmd.Path, out)
	}
	lines = lines[len(lines)-3:]
	info := toolchain.Info{PythonExecutable: strings.TrimSpace(lines[0])}
	if info.PythonVersion, err = toolchain.ParsePythonVersion(lines[1]); err != nil {
		logging.V(9).Infof("About: %v", err)
	}
	if info.ToolchainVersion, err = toolchain.ParsePipVersion(lines[2]); err != nil {
		logging.V(9).Infof("About: %v", err)
	}
	return info, nil
}
