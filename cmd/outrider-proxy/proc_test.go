package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/internal/proctest"
)

// binary is the outrider-proxy built once for the process tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outrider-proxy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "outrider-proxy")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build outrider-proxy: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a running outrider-proxy.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	out   *proctest.Output
	done  chan struct{}
	admin string
}

// start runs the proxy with args and waits until its admin API answers
// /ready with LIVE.
func start(t *testing.T, adminPort int, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, out: &proctest.Output{}, done: make(chan struct{}),
		admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort)}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("proxy output:\n%s", p.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if body, code := p.get("/ready"); code == 200 && strings.TrimSpace(body) == "LIVE" {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("proxy exited during start:\n%s", p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("proxy not ready after 10s:\n%s", p.out.String())
	return nil
}

func (p *proc) get(path string) (string, int) {
	resp, err := http.Get(p.admin + path)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

func (p *proc) post(path string) int {
	resp, err := http.Post(p.admin+path, "text/plain", nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (p *proc) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// exited waits up to d for the process to end and reports whether it did.
func (p *proc) exited(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// stat reads one counter or gauge from /stats.
func (p *proc) stat(name string) string {
	body, _ := p.get("/stats?filter=^" + name + "$")
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok && k == name {
			return v
		}
	}
	return ""
}

// writeConfig writes a bootstrap with one HTTP listener routing every
// request to cluster "backend" at backendAddr.
func writeConfig(t *testing.T, path string, adminPort, listenPort int, backendAddr string, extraHeader string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(backendAddr)
	cfg := fmt.Sprintf(`admin:
  address: {socket_address: {address: 127.0.0.1, port_value: %d}}
static_resources:
  listeners:
  - name: http
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              response_headers_to_add:
              - header: {key: x-config, value: %q}
              routes:
              - match: {prefix: "/"}
                route: {cluster: backend, timeout: 0s}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: backend
    connect_timeout: 1s
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}
`, adminPort, listenPort, extraHeader, host, port)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}
