package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// parseOptions reads the runtime options of Pulumi.yaml as upstream's host does; a value it does not
// support is an error naming the option and the values it takes, never silently ignored.
func parseOptions(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Root: info.GetRootDirectory(), ProgramDir: info.GetProgramDirectory()}
	options := info.GetOptions().AsMap()
	if value, ok := options["virtualenv"]; ok {
		venv, isString := value.(string)
		if !isString {
			return opts, errors.New("Pulumi.yaml: runtime option `virtualenv` must be a string (a folder, relative to the project)")
		}
		opts.Virtualenv = venv
	}
	if value, ok := options["typechecker"]; ok {
		checker, err := choice("typechecker", value, map[string]bool{"mypy": true, "pyright": true})
		if err != nil {
			return opts, err
		}
		opts.Typechecker = toolchain.TypeCheckerMypy
		if checker == "pyright" {
			opts.Typechecker = toolchain.TypeCheckerPyright
		}
	}
	if value, ok := options["toolchain"]; ok {
		name, err := choice("toolchain", value, map[string]bool{"pip": true, "poetry": true, "uv": true})
		if err != nil {
			return opts, err
		}
		switch name {
		case "pip":
			opts.Toolchain = toolchain.Pip
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		default:
			opts.Toolchain = toolchain.Uv
		}
	}
	return opts, nil
}

// choice is value as one of the allowed strings, or an error that names the option and what it takes.
func choice(option string, value any, allowed map[string]bool) (string, error) {
	names := make([]string, 0, len(allowed))
	for name := range allowed {
		names = append(names, name)
	}
	slices.Sort(names)
	text, isString := value.(string)
	if !isString || !allowed[text] {
		return "", fmt.Errorf("Pulumi.yaml: unsupported runtime option `%s: %v`; use one of %v, or remove it", option, value, names)
	}
	return text, nil
}

// resolve is the project's toolchain (pip with the named virtualenv, poetry or uv) and its options.
func resolve(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, toolchain.PythonOptions, error) {
	opts, err := parseOptions(info)
	if err != nil {
		return nil, opts, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	return tc, opts, err
}

// typecheck runs the typechecker Pulumi.yaml names over the program before it runs, as upstream does;
// a failed check stops the run with the checker's output.
func typecheck(ctx context.Context, tc toolchain.Toolchain, opts toolchain.PythonOptions, info *pulumirpc.ProgramInfo) error {
	var checker string
	switch opts.Typechecker {
	case toolchain.TypeCheckerMypy:
		checker = "mypy"
	case toolchain.TypeCheckerPyright:
		checker = "pyright"
	default:
		return nil
	}
	if err := requireInstalled(ctx, tc, checker); err != nil {
		return err
	}
	args := []string{"-m", checker}
	if checker == "mypy" {
		venv, err := tc.VirtualEnvPath(ctx)
		if err != nil {
			return err
		}
		if venv != "" {
			rel, err := filepath.Rel(info.GetProgramDirectory(), venv)
			if err != nil {
				return err
			}
			args = append(args, "--exclude", rel)
		}
	}
	cmd, err := tc.Command(ctx, append(args, info.GetProgramDirectory())...)
	if err != nil {
		return err
	}
	var output bytes.Buffer
	cmd.Stdout = io.MultiWriter(os.Stdout, &output)
	cmd.Stderr = io.MultiWriter(os.Stderr, &output)
	cmd.Dir = info.GetProgramDirectory()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s failed: %w\n%s", checker, err, output.String())
	}
	return nil
}

// requireInstalled fails with how to install pkg when the program's environment lacks it.
func requireInstalled(ctx context.Context, tc toolchain.Toolchain, pkg string) error {
	packages, _, err := installedPackages(ctx, tc)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(packages, func(p plugin.DependencyInfo) bool { return p.Name == pkg }) {
		return nil
	}
	return fmt.Errorf("the typechecker option is set to %s, but %s is not installed in the program's environment; "+
		"add %s to requirements.txt and run `pulumi install`", pkg, pkg, pkg)
}
