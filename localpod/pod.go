package localpod

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
)

// Pod is a network namespace attached to its node's bridge through eth0.
type Pod struct {
	// Name is the name given to AddPod.
	Name string
	// NetNS is the namespace's name: `ip netns exec <NetNS> …` enters it.
	NetNS string
	// IPv4 and IPv6 are eth0's addresses; IPv6 is invalid when the node
	// has IPv6 off.
	IPv4, IPv6 netip.Addr

	node *Node
}

// User is who a process runs as.
type User struct {
	UID, GID uint32
	// Groups are the supplementary groups; none when empty.
	Groups []uint32
}

// Root is the user processes run as when nothing else is asked.
var Root = User{}

// NetNSPath is the namespace's file, for setns(2) or
// nftables.WithNetNSFd.
func (p *Pod) NetNSPath() string { return nsPath(p.NetNS) }

// Do runs fn on an OS thread inside the pod's network namespace. Sockets that
// fn creates stay in the pod for their whole life, wherever they are used
// afterwards; goroutines that fn starts do not run in the pod.
func (p *Pod) Do(fn func() error) error { return doIn(p.NetNSPath(), fn) }

// Listen listens inside the pod, as net.Listen does. Accept from anywhere.
func (p *Pod) Listen(network, address string) (net.Listener, error) {
	var ln net.Listener
	err := p.Do(func() (err error) {
		ln, err = net.Listen(network, address)
		return err
	})
	return ln, err
}

// DialContext connects from inside the pod, as a process of the pod running
// as this process's user (root, in tests) would.
func (p *Pod) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := p.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Start starts cmd inside the pod as user u and returns once it runs. The
// process gets SIGKILL if this process dies, leads a process group of its own,
// and is killed by PID (with its group) when the node closes. cmd is set up
// as for cmd.Start; its SysProcAttr is completed, not replaced.
func (p *Pod) Start(cmd *exec.Cmd, u User) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	attr := cmd.SysProcAttr
	attr.Pdeathsig = syscall.SIGKILL
	attr.Setpgid = true
	if u.UID != 0 || u.GID != 0 || len(u.Groups) > 0 {
		groups := u.Groups
		if groups == nil {
			groups = []uint32{}
		}
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: groups}
	}
	// The child inherits the namespace of the thread that forks it, and
	// Pdeathsig fires when that thread exits: doIn's thread returns to the
	// runtime's pool afterwards and lives as long as this process.
	if err := p.Do(cmd.Start); err != nil {
		return nil, fmt.Errorf("localpod: pod %s: starting %s: %w", p.Name, cmd.Path, err)
	}
	proc := newProcess(cmd)
	if err := p.node.track(proc); err != nil {
		return nil, errors.Join(err, proc.Kill())
	}
	return proc, nil
}

// Run runs cmd inside the pod as user u and waits for it, as cmd.Run does.
func (p *Pod) Run(cmd *exec.Cmd, u User) error {
	proc, err := p.Start(cmd, u)
	if err != nil {
		return err
	}
	return proc.Wait()
}

// CombinedOutput runs a command inside the pod as root and returns its
// standard output and error; a failure's error includes that output.
func (p *Pod) CombinedOutput(ctx context.Context, name string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := p.Run(cmd, Root); err != nil {
		return out.Bytes(), fmt.Errorf("localpod: pod %s: %s %s: %w: %s",
			p.Name, name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}
