// Package pods sets up the benchmark's mesh case on one machine: a client
// pod and a server pod (localpod network namespaces on a bridge), once
// with Outrider sidecars (outrider-init's redirect rules, outrider-proxy
// --sidecar as UID 1337) and once without, as a Kubernetes node would run
// them. The load runs in the client pod, the backend in the server pod.
package pods

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"time"

	"github.com/outrider-mesh/outrider/bench/backend"
	"github.com/outrider-mesh/outrider/localpod"
)

// Options configure a Mesh.
type Options struct {
	// ProxyBin and InitBin are outrider-proxy and outrider-init.
	ProxyBin, InitBin string
	// CPU pins the sidecars to that CPU; -1 leaves them free.
	CPU int
	// Nice runs the sidecars at that niceness; zero leaves it.
	Nice int
	// BodySize is the backend's response body size.
	BodySize int
}

// Pair is a client pod and a server pod whose backend the client reaches
// at the server pod's address.
type Pair struct {
	Client, Server *localpod.Pod
	Backend        *backend.Backend
	// Sidecars are the client's and the server's proxies; none without.
	Sidecars []*localpod.Process
	// HTTP, GRPC and TCP are the backend's addresses as the client dials
	// them (the server pod's IP).
	HTTP, GRPC, TCP string
}

// Mesh holds both pairs on one node.
type Mesh struct {
	Plain, Sidecars *Pair
	node            *localpod.Node
}

// proxyUser is the sidecar's user, which the redirect rules never capture.
var proxyUser = localpod.User{UID: 1337, GID: 1337}

// Available says why pods cannot be made here (not root, no ip or
// iptables), or nil.
func Available() error { return localpod.Available() }

// Start builds the node and both pairs, and returns once both sidecars
// are ready.
func Start(o Options) (m *Mesh, err error) {
	node, err := localpod.NewNode(localpod.Options{Prefix: "obench", NoIPv6: true})
	if err != nil {
		return nil, fmt.Errorf("pods: %w", err)
	}
	m = &Mesh{node: node}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.Plain, err = m.pair("plain", o, false); err != nil {
		return nil, err
	}
	if m.Sidecars, err = m.pair("mesh", o, true); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Mesh) pair(name string, o Options, sidecars bool) (*Pair, error) {
	p := &Pair{}
	var err error
	if p.Client, err = m.node.AddPod(name + "-client"); err != nil {
		return nil, fmt.Errorf("pods: %w", err)
	}
	if p.Server, err = m.node.AddPod(name + "-server"); err != nil {
		return nil, fmt.Errorf("pods: %w", err)
	}
	if sidecars {
		for _, pod := range []*localpod.Pod{p.Client, p.Server} {
			proc, err := startSidecar(pod, o)
			if err != nil {
				return nil, err
			}
			p.Sidecars = append(p.Sidecars, proc)
		}
	}
	b, err := backend.Start(backend.Options{BodySize: o.BodySize, Host: "0.0.0.0", Listen: p.Server.Listen})
	if err != nil {
		return nil, fmt.Errorf("pods: %w", err)
	}
	p.Backend = b
	at := func(a net.Addr) string {
		return net.JoinHostPort(p.Server.IPv4.String(), strconv.Itoa(a.(*net.TCPAddr).Port))
	}
	p.HTTP, p.GRPC, p.TCP = at(b.HTTP), at(b.GRPC), at(b.TCP)
	return p, nil
}

// startSidecar installs the redirect rules in pod and starts the sidecar
// as the injector would have it, less the access log (off by default in
// Istio too).
func startSidecar(pod *localpod.Pod, o Options) (*localpod.Process, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := pod.CombinedOutput(ctx, o.InitBin); err != nil {
		return nil, fmt.Errorf("pods: outrider-init in %s: %w\n%s", pod.Name, err, out)
	}
	args := []string{o.ProxyBin, "--sidecar", "--access-log", "off", "--ipv6", "off", "--drain-time", "1s"}
	if o.CPU >= 0 {
		args = append([]string{"taskset", "-c", strconv.Itoa(o.CPU)}, args...)
	}
	if o.Nice != 0 {
		args = append([]string{"nice", "-n", strconv.Itoa(o.Nice)}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{
		"POD_NAME=" + pod.Name, "POD_NAMESPACE=bench", "SERVICE_ACCOUNT=" + pod.Name,
		"POD_IP=" + pod.IPv4.String(), "INSTANCE_IPS=" + pod.IPv4.String(), "GOMAXPROCS=1",
	}
	proc, err := pod.Start(cmd, proxyUser)
	if err != nil {
		return nil, fmt.Errorf("pods: sidecar in %s: %w", pod.Name, err)
	}
	if err := waitReady(pod, proc); err != nil {
		return nil, fmt.Errorf("pods: sidecar in %s: %w", pod.Name, err)
	}
	return proc, nil
}

// waitReady polls the sidecar's /healthz/ready from inside its pod, as
// the kubelet's probe would.
func waitReady(pod *localpod.Pod, proc *localpod.Process) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: pod.DialContext, DisableKeepAlives: true}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://127.0.0.1:15021/healthz/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/healthz/ready answered %d", resp.StatusCode)
		}
		select {
		case <-proc.Done():
			return fmt.Errorf("exited: %v", proc.Wait())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after 30 s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops the backends and removes the node with every pod and
// process in it.
func (m *Mesh) Close() error {
	for _, p := range []*Pair{m.Plain, m.Sidecars} {
		if p != nil && p.Backend != nil {
			p.Backend.Close()
		}
	}
	return m.node.Close()
}
