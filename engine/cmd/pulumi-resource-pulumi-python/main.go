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
//
// When the language host started that python already, warm, at the start of the program's Run (Pulumi.yaml
// option warmDynamicProvider), the wrapper claims it instead of running the launcher (package warm) and
// stands in for the launcher: it prints the python's port, relays its output, and passes it our SIGINT, the
// engine's death, and a SIGKILL before the engine's own deadline (that python is not in our group).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kimi-infra/engine/internal/enginewatch"
	"kimi-infra/engine/internal/warm"
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
	if claimed := claimWarm(args[len(args)-1]); claimed != nil {
		os.Exit(serveClaimed(claimed, args[len(args)-1]))
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

// claimWarm is the warm provider python the language host started for this engine's Run, if it offers one
// started exactly as this process was (working folder, environment); nil means: start the launcher.
func claimWarm(engineAddress string) *warm.Claimed {
	dir, err := os.Getwd()
	if err != nil {
		return nil
	}
	claimed, err := warm.Claim(engineAddress, warm.Fingerprint(dir, os.Environ()))
	if err != nil {
		return nil
	}
	return claimed
}

// serveClaimed stands in for the launcher with a claimed warm python: it gives the engine its port, relays
// its output, and stops it as the engine's interrupt and kill of our group would stop the launcher's python
// (it is in a group of its own): SIGINT when we get one or the engine is gone, SIGKILL when it has not left
// before the engine's own deadline for us. The exit code is 0 once it left after our SIGINT.
func serveClaimed(claimed *warm.Claimed, engineAddress string) int {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	// Our output may be a pipe to an engine that is gone: a relayed write must fail, not end us before the
	// python is stopped (Go dies of SIGPIPE on fds 1 and 2 unless the signal is notified).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	fmt.Printf("%d\n", claimed.Port) // the engine reads the port from our first line of stdout
	relayed := []<-chan struct{}{relay(os.Stdout, claimed.Stdout), relay(os.Stderr, claimed.Stderr)}
	exited := claimed.Exited()
	engineGone := make(chan struct{})
	if err := enginewatch.Watch(engineAddress, func() { close(engineGone) }); err != nil {
		_ = claimed.Signal(syscall.SIGKILL)
		fail("cannot watch the engine: %v", err)
	}
	var deadline <-chan time.Time // set by our first SIGINT to the python
	interrupt := func() {
		if deadline == nil {
			_ = claimed.Signal(syscall.SIGINT)
			deadline = time.After(killAfter)
		}
	}
	for {
		select {
		case <-signals:
			interrupt()
		case <-engineGone:
			engineGone = nil
			interrupt()
		case <-deadline:
			_ = claimed.Signal(syscall.SIGKILL)
		case <-exited:
			for _, done := range relayed { // its output ends with it, unless a child of its holds the pipes
				select {
				case <-done:
				case <-time.After(time.Second):
				}
			}
			if deadline == nil {
				// Also when the wait for its exit failed rather than saw it: no python may outlive us.
				_ = claimed.Signal(syscall.SIGKILL)
				fail("the dynamic-provider process ended by itself")
			}
			return 0
		}
	}
}

// killAfter is how long a claimed python may take to leave after our SIGINT: less than the engine's 5 s
// before it kills our group, which would leave that python (not in our group) running.
const killAfter = enginewatch.GracePeriod * 4 / 5

// relay copies the warm python's output stream to ours until it ends; the channel closes then.
func relay(to *os.File, from *os.File) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(to, from)
	}()
	return done
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
