package localpod

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a process started in a pod. Its methods are safe to call from
// several goroutines, and Wait may be called any number of times.
type Process struct {
	// Cmd is the started command; do not call its Wait.
	Cmd *exec.Cmd

	done chan struct{}
	err  error
}

func newProcess(cmd *exec.Cmd) *Process {
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

// Pid is the process ID, which is also its process group ID.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Signal sends sig to the process (not to its group): SIGTERM to drain a
// proxy, for instance.
func (p *Process) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns what exec.Cmd.Wait returned.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Kill sends SIGKILL to the process's group and waits for the process to
// exit. Killing a process that has exited already is not an error.
func (p *Process) Kill() error { return p.kill(10 * time.Second) }

func (p *Process) kill(limit time.Duration) error {
	// The group ID cannot be reused while any member of the group lives,
	// so signalling it by number is safe even after the leader is reaped.
	err := syscall.Kill(-p.Pid(), syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("localpod: killing process group %d: %w", p.Pid(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(limit):
		return fmt.Errorf("localpod: process %d (%s) still running %v after SIGKILL", p.Pid(), p.Cmd.Path, limit)
	}
}
