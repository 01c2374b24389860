package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/outrider-mesh/outrider/internal/proctest"
	"github.com/outrider-mesh/outrider/localpod"
)

// The binaries under test, built once per test process.
var bins struct {
	once        sync.Once
	dir         string
	proxy, init string
	err         error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
		os.RemoveAll(filepath.Dir(bins.proxy))
	}
	os.Exit(code)
}

// binaries builds outrider-proxy (shared so that UID 1337 may run it) and
// outrider-init from this tree.
func binaries(t *testing.T) (proxy, init string) {
	t.Helper()
	bins.once.Do(func() {
		if bins.dir, bins.err = os.MkdirTemp("", "outrider-sidecar-e2e"); bins.err != nil {
			return
		}
		build := func(pkg string) string {
			out := filepath.Join(bins.dir, filepath.Base(pkg))
			if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil && bins.err == nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
			}
			return out
		}
		proxy := build("github.com/outrider-mesh/outrider/cmd/outrider-proxy")
		bins.init = build("github.com/outrider-mesh/outrider/cmd/outrider-init")
		if bins.err == nil {
			bins.proxy, bins.err = localpod.ShareExecutable(proxy)
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.proxy, bins.init
}

// sidecarPod is a pod with the redirect rules and a running sidecar.
type sidecarPod struct {
	*localpod.Pod
	proxy *localpod.Process
	log   *proctest.Output
}

// proxyUser is who the sidecar runs as: the rules never capture it.
var proxyUser = localpod.User{UID: 1337, GID: 1337}

// startSidecarPod adds a pod, installs the redirect rules with the given
// backend, starts `outrider-proxy --sidecar` in it as UID 1337 and waits
// until it is ready, as the kubelet's probe would.
func startSidecarPod(t *testing.T, node *localpod.Node, name, backend string, proxyArgs ...string) *sidecarPod {
	t.Helper()
	proxyBin, initBin := binaries(t)
	pod := node.AddTestPod(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := pod.CombinedOutput(ctx, initBin, "--backend", backend); err != nil {
		t.Fatalf("outrider-init: %v\n%s", err, out)
	}
	log := &proctest.Output{}
	cmd := exec.Command(proxyBin, append([]string{"--sidecar", "--drain-time=2s"}, proxyArgs...)...)
	cmd.Env = []string{
		"POD_NAME=" + name, "POD_NAMESPACE=e2e", "SERVICE_ACCOUNT=" + name,
		"POD_IP=" + pod.IPv4.String(), "INSTANCE_IPS=" + pod.IPv4.String() + "," + pod.IPv6.String(),
	}
	cmd.Stdout, cmd.Stderr = log, log
	proc, err := pod.Start(cmd, proxyUser)
	if err != nil {
		t.Fatal(err)
	}
	p := &sidecarPod{Pod: pod, proxy: proc, log: log}
	t.Cleanup(func() {
		proc.Kill()
		if t.Failed() {
			t.Logf("%s sidecar log:\n%s", name, log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, err := p.get(p.plainClient(), "http://127.0.0.1:15021/healthz/ready")
		if err == nil && code == 200 {
			return p
		}
		select {
		case <-proc.Done():
			t.Fatalf("%s: the sidecar exited: %v\n%s", name, proc.Wait(), log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the sidecar is not ready: %d %v\n%s", name, code, err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dial connects from inside the pod as root: an application, captured.
func (p *sidecarPod) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return p.Pod.DialContext(ctx, network, addr)
}

// plainClient is an HTTP/1.1 client in the pod, a new connection each time.
func (p *sidecarPod) plainClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: p.dial, DisableKeepAlives: true,
	}}
}

// h2cClient speaks HTTP/2 with prior knowledge from the pod.
func (p *sidecarPod) h2cClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return p.dial(ctx, network, addr)
		},
	}}
}

func (p *sidecarPod) get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// stats reads the sidecar's counters and gauges from its admin API, which
// listens on the pod's loopback.
func (p *sidecarPod) stats(t *testing.T) map[string]uint64 {
	t.Helper()
	_, body, err := p.get(p.plainClient(), "http://127.0.0.1:15000/stats")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(value, 10, 64); err == nil {
			out[name] = n
		}
	}
	return out
}

// stat reads one counter.
func (p *sidecarPod) stat(t *testing.T, name string) uint64 {
	t.Helper()
	return p.stats(t)[name]
}

// waitStat reads a counter until it reaches want or a few seconds have
// passed, and returns its last value. Per-request stats are recorded when
// the stream ends, which may be just after the client has its response.
func (p *sidecarPod) waitStat(t *testing.T, name string, want uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := p.stat(t, name)
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hostPort joins an address and a port.
func hostPort(a netip.Addr, port int) string {
	return netip.AddrPortFrom(a, uint16(port)).String()
}

// statAddr is an address:port as stat names hold it (':' becomes '_').
func statAddr(a netip.Addr, port int) string {
	return strings.ReplaceAll(hostPort(a, port), ":", "_")
}
