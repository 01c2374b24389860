package demo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/outrider-mesh/outrider/localpod"
)

// Binaries are the programs the demo runs in its pods.
type Binaries struct {
	// Init is outrider-init, run as root in each pod.
	Init string
	// Proxy is outrider-proxy, each pod's sidecar, run as UID 1337.
	Proxy string
	// App is the outrider command itself: `outrider demo app server|client`
	// is the sample application, run as an ordinary user.
	App string
}

// FindBinaries finds outrider-init and outrider-proxy in dir when dir is
// not empty; otherwise next to the running executable, then in $PATH. App
// is the running executable.
func FindBinaries(dir string) (Binaries, error) {
	self, err := os.Executable()
	if err != nil {
		return Binaries{}, fmt.Errorf("demo: finding the outrider executable: %w", err)
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return Binaries{}, fmt.Errorf("demo: finding the outrider executable: %w", err)
	}
	b := Binaries{App: self}
	find := func(name string) (string, error) {
		if dir != "" {
			p := filepath.Join(dir, name)
			if err := executable(p); err != nil {
				return "", fmt.Errorf("demo: %s not found in %s: %w", name, dir, err)
			}
			return p, nil
		}
		p := filepath.Join(filepath.Dir(self), name)
		if executable(p) == nil {
			return p, nil
		}
		if p, err := exec.LookPath(name); err == nil {
			return filepath.Abs(p)
		}
		return "", fmt.Errorf("demo: %s not found next to %s nor in $PATH: build it (go build ./cmd/%s) or name its directory with --bin-dir", name, self, name)
	}
	if b.Init, err = find("outrider-init"); err != nil {
		return b, err
	}
	if b.Proxy, err = find("outrider-proxy"); err != nil {
		return b, err
	}
	return b, nil
}

func executable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// shared returns b with the programs that run as another user than root
// (the proxy and the app) moved where that user can run them, and a
// function that removes the copies it had to make. A program in a directory
// only root may enter (a test's temporary directory, /root) is copied.
func (b Binaries) shared() (Binaries, func(), error) {
	var copies []string
	remove := func() {
		for _, c := range copies {
			os.RemoveAll(filepath.Dir(c))
		}
	}
	for _, p := range []*string{&b.Proxy, &b.App} {
		if runnableByAnyone(*p) {
			continue
		}
		c, err := localpod.ShareExecutable(*p)
		if err != nil {
			remove()
			return b, func() {}, fmt.Errorf("demo: %w", err)
		}
		copies = append(copies, c)
		*p = c
	}
	return b, remove, nil
}

// runnableByAnyone reports whether every user may reach and execute path:
// each directory above it searchable by others, the file executable by
// others.
func runnableByAnyone(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	for p := abs; ; p = filepath.Dir(p) {
		info, err := os.Stat(p)
		if err != nil || info.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == filepath.Dir(p) {
			return true
		}
	}
}
