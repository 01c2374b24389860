package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestValidateAcceptsEveryExampleConfig(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := exec.Command(binary, "--validate", "-c", f).CombinedOutput()
			if err != nil {
				t.Fatalf("--validate %s: %v\n%s", f, err, out)
			}
		})
	}
}

func TestValidateReportsEveryErrorWithItsPath(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		want []string
	}{
		{
			name: "schema and subset errors from the loader",
			file: "testdata/bad.yaml",
			want: []string{
				"static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0]: envoy.filters.http.lua is not supported",
				"static_resources.clusters[0].colour:",
				"static_resources.clusters[0].health_checks:",
			},
		},
		{
			name: "semantic errors from the translators",
			file: "testdata/bad-semantics.yaml",
			want: []string{
				"static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].match.safe_regex.regex: ",
				"static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log[0].typed_config.log_format: ",
				"NO_SUCH_OPERATOR",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(binary, "--validate", "-c", tc.file).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("want exit status 1, got %v\n%s", err, out)
			}
			for _, want := range tc.want {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// backend is an HTTP server on loopback whose responses say its name.
type backend struct {
	addr    string
	started chan struct{} // receives when a /slow request arrives
	release chan struct{} // closed to let /slow requests answer
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{started: make(chan struct{}, 16), release: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			b.started <- struct{}{}
			<-b.release
		}
		io.WriteString(w, name)
	})}
	go srv.Serve(ln)
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			select {
			case <-b.release:
			default:
				close(b.release)
			}
		})
		srv.Close()
	})
	b.addr = ln.Addr().String()
	return b
}

func TestSIGTERMDrainsWhileAnInFlightRequestCompletes(t *testing.T) {
	be := newBackend(t, "a")
	adminPort, port := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "proxy.yaml")
	writeConfig(t, cfg, adminPort, port, be.addr, "v1")
	p := start(t, adminPort, "-c", cfg, "--drain-time", "1s")
	url := fmt.Sprintf("http://127.0.0.1:%d", port)

	inflight := make(chan error, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "a" {
				err = fmt.Errorf("in-flight request got %d %q", resp.StatusCode, body)
			}
		}
		inflight <- err
	}()
	<-be.started
	p.signal(syscall.SIGTERM)

	waitFor(t, "ready to turn 503 DRAINING", func() bool {
		body, code := p.get("/ready")
		return code == 503 && strings.TrimSpace(body) == "DRAINING"
	})
	// Listeners keep accepting during the drain, and tell clients to go.
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatalf("request during the drain: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("request during the drain: status %d, Connection: close %v; want 200 and close", resp.StatusCode, resp.Close)
	}

	close(be.release)
	if err := <-inflight; err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	if !p.exited(10 * time.Second) {
		t.Fatal("proxy still running 10s after a 1s drain")
	}
}

func TestExitOnZeroActiveConnectionsEndsTheDrainEarly(t *testing.T) {
	be := newBackend(t, "a")
	adminPort, port := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "proxy.yaml")
	writeConfig(t, cfg, adminPort, port, be.addr, "v1")
	p := start(t, adminPort, "-c", cfg, "--drain-time", "10m", "--exit-on-zero-active-connections")

	client := &http.Client{Transport: &http.Transport{}}
	done := make(chan error, 1)
	go func() {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/slow", port))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		done <- err
	}()
	<-be.started
	p.signal(syscall.SIGTERM)
	waitFor(t, "ready to turn 503", func() bool { _, code := p.get("/ready"); return code == 503 })
	if p.exited(0) {
		t.Fatal("proxy exited while a request was in flight")
	}
	close(be.release)
	if err := <-done; err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	client.CloseIdleConnections()
	if !p.exited(20 * time.Second) {
		t.Fatal("proxy did not exit once no connection was left (drain time is 10m)")
	}
}

func TestASecondSignalExitsAtOnce(t *testing.T) {
	be := newBackend(t, "a")
	adminPort, port := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "proxy.yaml")
	writeConfig(t, cfg, adminPort, port, be.addr, "v1")
	p := start(t, adminPort, "-c", cfg, "--drain-time", "10m")
	p.signal(syscall.SIGTERM)
	waitFor(t, "ready to turn 503", func() bool { _, code := p.get("/ready"); return code == 503 })
	p.signal(syscall.SIGINT)
	if !p.exited(20 * time.Second) {
		t.Fatal("proxy still draining after a second signal")
	}
}

func TestQuitQuitQuitEndsTheProcess(t *testing.T) {
	be := newBackend(t, "a")
	adminPort, port := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "proxy.yaml")
	writeConfig(t, cfg, adminPort, port, be.addr, "v1")
	p := start(t, adminPort, "-c", cfg)
	if code := p.post("/quitquitquit"); code != 200 {
		t.Fatalf("POST /quitquitquit: %d", code)
	}
	if !p.exited(20 * time.Second) {
		t.Fatal("proxy still running after /quitquitquit")
	}
}

// A SIGHUP swaps the configuration in while clients keep sending, on kept-
// alive and on new connections: no request fails, and an invalid file is
// refused while the running configuration keeps serving.
func TestSIGHUPReloadUnderLoadFailsNoRequest(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	adminPort, port := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "proxy.yaml")
	writeConfig(t, cfg, adminPort, port, a.addr, "gen-0")
	p := start(t, adminPort, "-c", cfg)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	var sent, failed atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		keepAlive := i%2 == 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second,
				Transport: &http.Transport{DisableKeepAlives: !keepAlive}}
			defer client.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				resp, err := client.Get(url)
				if err == nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr != nil || resp.StatusCode != 200 || (string(body) != "a" && string(body) != "b") {
						err = fmt.Errorf("status %d body %q read error %v", resp.StatusCode, body, rerr)
					}
				}
				if err != nil {
					failed.Add(1)
					lastErr.Store(err.Error())
				}
			}
		}()
	}

	for gen := 1; gen <= 10; gen++ {
		to := a.addr
		if gen%2 == 1 {
			to = b.addr
		}
		want := fmt.Sprintf("gen-%d", gen)
		writeConfig(t, cfg, adminPort, port, to, want)
		p.signal(syscall.SIGHUP)
		waitFor(t, "the proxy to serve "+want, func() bool {
			resp, err := http.Get(url)
			if err != nil {
				return false
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.Header.Get("x-config") == want
		})
	}

	// An invalid file is refused and counted; the running config stays.
	if err := writeFile(cfg, "static_resources: {listeners: [{name: 1, bogus: true}]}\n"); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	waitFor(t, "the failed reload to be counted", func() bool { return p.stat("server.config_reload_failed") == "1" })

	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed during reloads; last: %v", n, sent.Load(), lastErr.Load())
	}
	if sent.Load() < 50 {
		t.Fatalf("only %d requests were sent during the reloads; the test proves nothing", sent.Load())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("after the refused reload: %v", err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("x-config"); got != "gen-10" {
		t.Fatalf("after the refused reload the proxy serves %q, want gen-10", got)
	}
}

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o644)
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
