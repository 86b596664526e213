// Package enginewatch lets a plugin the Pulumi engine started notice that the engine is gone.
//
// The engine starts each plugin in a process group of its own and, on a normal exit, interrupts then
// kills that group. After `kill -9` of `pulumi` nobody does, so a plugin must look for itself: as
// upstream's Go plugins do, it polls the engine's gRPC health endpoint (rpcutil.Healthcheck: any answer,
// even Unimplemented, means alive; a refused connection means dead). Upstream polls every 5 minutes; we
// poll every second, so that a dead engine's plugins are gone within seconds, not minutes.
package enginewatch

import (
	"context"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
)

// Interval is how often the engine is asked whether it is alive: one loopback call, cheap.
const Interval = time.Second

// GracePeriod is how long a child that was sent SIGINT may take to exit before it is killed: upstream's
// language host gives its program the same 5 s (exec.Cmd.WaitDelay), and the engine gives each plugin 5 s.
const GracePeriod = 5 * time.Second

// Watch calls onDead once, from another goroutine, when the engine at address stops answering.
func Watch(address string, onDead func()) error {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-ctx.Done()
		onDead()
	}()
	return rpcutil.Healthcheck(ctx, address, Interval, cancel)
}
