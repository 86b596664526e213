// Command pulumi-resource-pulumi-python starts the Pulumi SDK's dynamic-provider plugin and stops it when the
// engine dies.
//
// The engine runs the plugin of every Python dynamic provider as `pulumi-resource-pulumi-python <engine
// address>`. The SDK's launcher of that name (a shell script, installed unchanged as
// sdk/pulumi-resource-pulumi-python next to this binary) runs `python -m pulumi.dynamic`, a gRPC server that
// waits for ever: after `kill -9` of pulumi nothing stopped it. This wrapper runs the launcher with the same
// arguments, stdin, stdout (the port line goes straight to the engine) and stderr, in its own process group as
// the engine made it, so the engine's own interrupt and kill of that group reach the launcher and its python
// as before. In addition it watches the engine as upstream's Go plugins do (enginewatch): when the engine is
// gone, it interrupts the group (the SDK's server stops on KeyboardInterrupt), waits the grace period for its
// members to leave, then kills what is left, itself last.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kimi-infra/engine/internal/enginewatch"
)

func main() {
	self, err := os.Executable()
	if err != nil {
		fail("cannot find itself: %v", err)
	}
	launcher := filepath.Join(filepath.Dir(self), "sdk", "pulumi-resource-pulumi-python")
	args := os.Args[1:]
	if len(args) == 0 { // not started by the engine: nothing to watch
		if err := syscall.Exec(launcher, append([]string{launcher}, args...), os.Environ()); err != nil {
			fail("cannot run %s: %v", launcher, err)
		}
	}
	// The engine starts plugins as process-group leaders; by hand we may not be one: become one, so that
	// the group we signal below holds the launcher, its python and us, and nothing else.
	if syscall.Getpgrp() != os.Getpid() {
		if err := syscall.Setpgid(0, 0); err != nil {
			fail("cannot start a process group: %v", err)
		}
	}
	// Catch SIGINT (the engine interrupts the whole group when it closes the plugin) so that we outlive the
	// launcher and pass on its exit status. Caught, not ignored: an ignored signal stays ignored in the child,
	// and python would then not stop on it.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)

	cmd := exec.Command(launcher, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fail("cannot run %s: %v", launcher, err)
	}
	stopping := make(chan struct{})
	if err := enginewatch.Watch(args[len(args)-1], func() { close(stopping); stopGroup() }); err != nil {
		fail("cannot watch the engine: %v", err)
	}
	err = cmd.Wait()
	select {
	case <-stopping:
		select {} // the launcher is gone but its python may not be: stopGroup ends the group, us included
	default:
	}
	os.Exit(exitCode(launcher, err))
}

// exitCode passes on how the launcher ended, as a shell would: its code, or 128+signal, silently (the
// engine interrupts plugins on every normal close, which is no error to show).
func exitCode(launcher string, err error) int {
	var exitErr *exec.ExitError
	if err == nil {
		return 0
	}
	if !errors.As(err, &exitErr) {
		fail("%s: %v", launcher, err)
	}
	if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		return 128 + int(status.Signal())
	}
	return exitErr.ExitCode()
}

// stopGroup ends our process group once the engine is gone: SIGINT to every member, then, once the others
// have left or the grace period is over, SIGKILL to the group, which ends this process too.
func stopGroup() {
	// Nothing is written: stdout and stderr were pipes to the engine, and a write to them now is SIGPIPE.
	group := syscall.Getpgrp()
	_ = syscall.Kill(-group, syscall.SIGINT)
	deadline := time.After(enginewatch.GracePeriod)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for othersInGroup(group) {
		select {
		case <-deadline:
			_ = syscall.Kill(-group, syscall.SIGKILL)
			return
		case <-tick.C:
		}
	}
	_ = syscall.Kill(-group, syscall.SIGKILL) // only we are left: the engine that would read our exit is gone
}

// othersInGroup tells whether a live process other than this one is in process group pgid (Linux: /proc).
func othersInGroup(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	self := os.Getpid()
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", entry.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 2 && fields[0] != "Z" && fields[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-resource-pulumi-python: "+format+"\n", args...)
	os.Exit(1)
}
