package warm

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ClaimTimeout bounds one claim: the wrapper waits this long at most for the warm python to serve (a loaded
// 2-core machine can take seconds), then starts the plugin the usual way.
const ClaimTimeout = 60 * time.Second

// Offer is a warm provider python the language host started for one Run, offered to the wrapper until Stop.
type Offer struct {
	cmd            *exec.Cmd
	stdout, stderr *os.File // read ends of the python's output, handed over with the claim
	pidfd          int
	listener       *net.UnixListener
	fingerprint    string

	served  chan struct{} // closed once the port is known (port > 0) or cannot be (port == 0)
	port    int
	exited  chan struct{} // closed once the python has exited
	mu      sync.Mutex
	claimed bool
	stopped bool
}

// Start runs argv (a python serving the dynamic-provider protocol) in dir with env, in a process group of its
// own (the engine's interrupt of the host's group must not reach a python the wrapper now owns), and offers
// it to the wrapper that the engine at address starts with the given fingerprint.
func Start(address string, argv []string, dir string, env []string, fingerprint string) (*Offer, error) {
	folder, err := Folder(true)
	if err != nil {
		return nil, err
	}
	listener, err := listen(socketPath(folder, address))
	if err != nil {
		return nil, err
	}
	offer := &Offer{listener: listener, fingerprint: fingerprint, pidfd: -1,
		served: make(chan struct{}), exited: make(chan struct{})}
	if err := offer.startPython(argv, dir, env); err != nil {
		_ = listener.Close()
		return nil, err
	}
	go offer.readPort()
	go offer.serve()
	return offer, nil
}

// listen makes the hand-over socket, closed to other users; one left by a host that died is replaced (the
// folder is ours alone, so it was ours).
func listen(path string) (*net.UnixListener, error) {
	_ = os.Remove(path)
	listener, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = listener.Close()
		return nil, err
	}
	return listener, nil
}

func (o *Offer) startPython(argv []string, dir string, env []string) error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(outR, outW)
		return err
	}
	o.stdout, o.stderr = outR, errR
	o.cmd = exec.Command(argv[0], argv[1:]...)
	o.cmd.Dir, o.cmd.Env, o.cmd.Stdout, o.cmd.Stderr = dir, env, outW, errW
	o.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = o.cmd.Start()
	closeAll(outW, errW) // the python holds them now: its exit is their end
	if err != nil {
		closeAll(outR, errR)
		return err
	}
	go func() {
		_ = o.cmd.Wait()
		close(o.exited)
	}()
	// A pidfd names this python and no later process with its pid, however long the wrapper holds it.
	if o.pidfd, err = unix.PidfdOpen(o.cmd.Process.Pid, 0); err != nil {
		o.kill()
		o.release()
		return err
	}
	return nil
}

// readPort reads the python's first line, its port, one byte at a time as the engine does, so that nothing
// after it is consumed: the rest of its output is the wrapper's to relay.
func (o *Offer) readPort() {
	defer close(o.served)
	var line []byte
	b := make([]byte, 1)
	for {
		if n, err := o.stdout.Read(b); err != nil || n == 0 {
			return
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	if port, err := strconv.Atoi(strings.TrimSpace(string(line))); err == nil && port > 0 {
		o.port = port
	}
}

func (o *Offer) serve() {
	for {
		conn, err := o.listener.AcceptUnix()
		if err != nil {
			return // Stop closed the listener
		}
		o.answer(conn)
	}
}

// answer grants the one claim of a caller of this user whose fingerprint matches, refuses any other.
func (o *Offer) answer(conn *net.UnixConn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(ClaimTimeout))
	line, err := bufio.NewReaderSize(conn, 256).ReadString('\n')
	if err != nil || peerUID(conn) != os.Getuid() || !o.claim(strings.TrimSuffix(line, "\n")) {
		_, _ = conn.Write([]byte(refusal))
		return
	}
	port := 0 // read only once readPort is done with it
	select {
	case <-o.served:
		port = o.port
	case <-time.After(ClaimTimeout):
	}
	if port == 0 { // it died or never served: the wrapper starts its own
		o.kill()
		o.release()
		_, _ = conn.Write([]byte(refusal))
		return
	}
	rights := syscall.UnixRights(int(o.stdout.Fd()), int(o.stderr.Fd()), o.pidfd)
	_, _, _ = conn.WriteMsgUnix([]byte(fmt.Sprintf("%s%d\n", portAnswer, port)), rights, nil)
	o.release()
}

// claim marks the offer taken if it is still open and fingerprint is the expected request: one winner.
func (o *Offer) claim(request string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.claimed || o.stopped || request != claimRequest+o.fingerprint {
		return false
	}
	o.claimed = true
	return true
}

// Stop ends the offer (Run ended): no claim is granted after it, and a python nobody claimed is killed (it
// never served a call, so nothing is cut short). A claimed python is the wrapper's to stop.
func (o *Offer) Stop() {
	if o == nil {
		return
	}
	o.mu.Lock()
	o.stopped = true
	claimed := o.claimed
	o.mu.Unlock()
	_ = o.listener.Close()
	if !claimed {
		o.kill()
		o.release()
	}
}

// kill ends the python's process group, unless the python is reaped already: its pid may name another
// process's group by now.
func (o *Offer) kill() {
	select {
	case <-o.exited:
	default:
		_ = syscall.Kill(-o.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// release closes the host's copies of what the wrapper holds now (or nobody will).
func (o *Offer) release() {
	closeAll(o.stdout, o.stderr)
	if o.pidfd >= 0 {
		_ = unix.Close(o.pidfd)
	}
}

func closeAll(files ...*os.File) {
	for _, file := range files {
		_ = file.Close()
	}
}

// peerUID is the user of the process at the other end of conn (SO_PEERCRED), -1 if unknown.
func peerUID(conn *net.UnixConn) int {
	uid := -1
	raw, err := conn.SyscallConn()
	if err != nil {
		return uid
	}
	_ = raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			uid = int(cred.Uid)
		}
	})
	return uid
}
