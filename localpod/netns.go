package localpod

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where ip netns keeps its named namespaces (bind mounts).
const netnsDir = "/run/netns"

func nsPath(name string) string { return filepath.Join(netnsDir, name) }

func addNetNS(name string) error {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("localpod: ip netns add %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func delNetNS(name string) error {
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("localpod: ip netns del %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeNetNS kills whatever still runs in the namespace, by PID, and deletes
// it: deleting a namespace does not stop its processes. A namespace that does
// not exist is not an error.
func removeNetNS(name string) error {
	if _, err := os.Stat(nsPath(name)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	pids, err := pidsIn(name)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	for _, pid := range pids {
		waitGone(pid, 5*time.Second)
	}
	return delNetNS(name)
}

// pidsIn lists the processes whose network namespace is ns, the way
// `ip netns pids` finds them: by the namespace's inode.
func pidsIn(name string) ([]int, error) {
	var want unix.Stat_t
	if err := unix.Stat(nsPath(name), &want); err != nil {
		return nil, fmt.Errorf("localpod: %w", err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("localpod: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) != nil {
			continue // gone, or a kernel thread
		}
		if st.Dev == want.Dev && st.Ino == want.Ino {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// waitGone waits until pid has exited (it may be someone else's child, so it
// cannot be waited for) or the deadline passes.
func waitGone(pid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		// A zombie no longer holds the namespace.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i:]), ") Z") {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noDAD turns IPv6 duplicate address detection off in a namespace, so that
// addresses (link-local ones too) are usable at once and `ip addr` stays the
// same over time. Interfaces created or moved in later inherit "default".
func noDAD(name string) error {
	return doIn(nsPath(name), func() error {
		for _, conf := range []string{"all", "default"} {
			err := os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/accept_dad", []byte("0"), 0)
			if err != nil && !errors.Is(err, fs.ErrNotExist) { // no IPv6 in this kernel
				return fmt.Errorf("localpod: %w", err)
			}
		}
		return nil
	})
}

// doIn runs fn on an OS thread that has joined the network namespace at path.
// Sockets fn creates belong to that namespace for their whole life; processes
// it starts inherit it. Goroutines fn starts do not run in it.
//
// fn runs on a goroutine of its own, locked to its thread. The thread goes
// back to the original namespace afterwards; if it cannot, it stays locked and
// the runtime discards it when the goroutine ends, so no other goroutine ever
// runs in the wrong namespace.
func doIn(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- func() error {
			orig, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				runtime.UnlockOSThread()
				return fmt.Errorf("localpod: %w", err)
			}
			defer orig.Close()
			target, err := os.Open(path)
			if err != nil {
				runtime.UnlockOSThread()
				return fmt.Errorf("localpod: %w", err)
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				runtime.UnlockOSThread()
				return fmt.Errorf("localpod: entering %s: %w", path, err)
			}
			ferr := fn()
			if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
				return errors.Join(ferr, fmt.Errorf("localpod: leaving %s: %w", path, err))
			}
			runtime.UnlockOSThread()
			return ferr
		}()
	}()
	return <-errc
}

// Sweep deletes the namespaces named "<prefix>-<pid>-…" whose process is no
// longer running, killing by PID whatever still runs in them, and returns
// their names. Tests call it through NewTestNode; `outrider demo` may call it
// at start. An empty prefix means DefaultPrefix.
func Sweep(prefix string) ([]string, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return sweep(prefix, func(pid int) bool {
		err := unix.Kill(pid, 0)
		return err != nil && !errors.Is(err, syscall.EPERM)
	})
}

// sweep removes the namespaces with prefix whose PID stale reports true.
func sweep(prefix string, stale func(pid int) bool) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("localpod: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix+"-")
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || !stale(pid) {
			continue
		}
		if err := removeNetNS(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}
