package warm

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Claimed is a warm provider python this wrapper now owns: its port, its output and a pidfd to signal it.
type Claimed struct {
	Port           int
	Stdout, Stderr *os.File
	pidfd          int
}

// Claim takes the warm python the language host offers for the engine at address, if there is one, it is
// this user's, and it was started as this process was (fingerprint). An error means: start the plugin cold.
func Claim(address, fingerprint string) (*Claimed, error) {
	dir, err := Folder(false)
	if err != nil {
		return nil, err
	}
	path := socketPath(dir, address)
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if err := ownedPrivately(info, os.ModeSocket); err != nil {
		return nil, err
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if peerUID(conn) != os.Getuid() {
		return nil, errors.New("the offer is not this user's")
	}
	_ = conn.SetDeadline(time.Now().Add(ClaimTimeout + 5*time.Second))
	if _, err := conn.Write([]byte(claimRequest + fingerprint + "\n")); err != nil {
		return nil, err
	}
	return readAnswer(conn)
}

// readAnswer reads the host's answer: the port line and the three descriptors that come with it.
func readAnswer(conn *net.UnixConn) (*Claimed, error) {
	buf, oob := make([]byte, 64), make([]byte, syscall.CmsgSpace(3*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	fds, err := receivedFDs(oob[:oobn])
	if err != nil {
		return nil, err
	}
	line, found := bytes.CutSuffix(buf[:n], []byte("\n"))
	port, err := strconv.Atoi(strings.TrimPrefix(string(line), portAnswer))
	if !found || !bytes.HasPrefix(line, []byte(portAnswer)) || err != nil || len(fds) != 3 {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
		return nil, errors.New("the offer was refused")
	}
	return &Claimed{Port: port, Stdout: os.NewFile(uintptr(fds[0]), "warm-stdout"),
		Stderr: os.NewFile(uintptr(fds[1]), "warm-stderr"), pidfd: fds[2]}, nil
}

func receivedFDs(oob []byte) ([]int, error) {
	messages, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, message := range messages {
		rights, err := syscall.ParseUnixRights(&message)
		if err != nil {
			return nil, err
		}
		fds = append(fds, rights...)
	}
	return fds, nil
}

// Signal sends sig to the claimed python (never to a later process that reused its pid).
func (c *Claimed) Signal(sig syscall.Signal) error {
	return unix.PidfdSendSignal(c.pidfd, sig, nil, 0)
}

// Exited is closed once the claimed python has exited (its pidfd becomes readable), or the wait for that
// failed: the caller then treats it as gone, and kills it to be sure.
func (c *Claimed) Exited() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fds := []unix.PollFd{{Fd: int32(c.pidfd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				return
			}
		}
	}()
	return done
}
