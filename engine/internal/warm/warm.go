// Package warm hands a dynamic-provider python, started early by the language host, to the plugin wrapper.
//
// The engine starts the dynamic-provider plugin (`pulumi-resource-pulumi-python <engine address>`) only when
// the program registers its first dynamic resource, and then waits for python to start, import the SDK and
// serve: ~150 ms of every pass, on the critical path. The language host knows the engine's address when Run
// starts, so it can start that same python then (`Offer`), while the program starts; when the engine later
// starts the plugin, our wrapper claims it (`Claim`) and answers the engine with its port.
//
// The hand-over is a Unix socket named after the engine address in a folder only this user can use
// (`Folder`: 0700, ours, no symlink; anything else there is ignored, never trusted). The host checks that the
// caller is this user (SO_PEERCRED) and that the plugin would have been started with the very environment and
// working folder the warm python got (`Fingerprint`); only then, and only once, does it send the port, the
// python's stdout and stderr, and a pidfd (SCM_RIGHTS), so that the wrapper relays the output and signals that
// python as it would its own child. The claim and the end of Run take one lock: the first wins, and a warm
// python nobody claimed before Run ended is killed. Any failure means no warm python: the wrapper starts the
// plugin the usual way.
package warm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// claimRequest starts the wrapper's one line to the host; the host answers with portAnswer and three file
// descriptors (stdout, stderr, pidfd), or with refusal and nothing.
const (
	claimRequest = "claim "
	portAnswer   = "port "
	refusal      = "no\n"
)

// Folder is this user's private folder of hand-over sockets, created if missing when create is true. A
// folder that is not a real directory owned by this user and closed to everyone else is an error: the
// sockets in it could be anyone's.
func Folder(create bool) (string, error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("kimi-infra-warm-%d", os.Getuid()))
	if create {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	if err := ownedPrivately(info, os.ModeDir); err != nil {
		return "", fmt.Errorf("%s: %w", dir, err)
	}
	return dir, nil
}

// ownedPrivately checks that info is of kind (a directory or a socket, never a symlink), owned by this user,
// and open to nobody else.
func ownedPrivately(info os.FileInfo, kind os.FileMode) error {
	stat, ok := info.Sys().(*syscall.Stat_t)
	switch {
	case info.Mode().Type() != kind:
		return errors.New("not of the expected kind")
	case !ok || int(stat.Uid) != os.Getuid():
		return errors.New("owned by another user")
	case info.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("mode %o is open to others", info.Mode().Perm())
	}
	return nil
}

// socketPath is the hand-over socket of the engine at address: a digest, so the address's characters
// never reach the file system.
func socketPath(dir, address string) string {
	sum := sha256.Sum256([]byte(address))
	return filepath.Join(dir, hex.EncodeToString(sum[:8])+".sock")
}

// Fingerprint identifies how a plugin process was started: its working folder and its environment
// (duplicates resolved as exec does, last one wins; order ignored). A claim is granted only when the
// wrapper's fingerprint is the warm python's, so a warm provider behaves exactly as a cold one would.
func Fingerprint(dir string, env []string) string {
	latest := map[string]string{}
	for _, entry := range env {
		key, _, _ := strings.Cut(entry, "=")
		latest[key] = entry
	}
	entries := make([]string, 0, len(latest))
	for _, entry := range latest {
		entries = append(entries, entry)
	}
	slices.Sort(entries)
	sum := sha256.Sum256([]byte(dir + "\x00" + strings.Join(entries, "\x00")))
	return hex.EncodeToString(sum[:])
}
