package server

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// These tests run the whole proxy (listener, connection manager, router,
// cluster, pools) in-process against real servers on loopback.

func TestRetriesRecoverFromUpstream503sAndCountThem(t *testing.T) {
	var hits atomic.Int32
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "ok")
	})
	s, addr := startProxy(t, httpProxyConfig(`              - match: {prefix: "/"}
                route:
                  cluster: backend
                  retry_policy: {retry_on: 5xx, num_retries: 3, retry_back_off: {base_interval: 0.001s}}`,
		staticCluster("backend", "", be)))
	code, body, _ := get(t, http.DefaultClient, "http://"+addr+"/")
	if code != 200 || body != "ok" {
		t.Fatalf("got %d %q, want 200 ok after retries", code, body)
	}
	if got := counter(s, "cluster.backend.upstream_rq_retry"); got != 2 {
		t.Errorf("upstream_rq_retry = %d, want 2", got)
	}
	if got := counter(s, "cluster.backend.upstream_rq_retry_success"); got != 1 {
		t.Errorf("upstream_rq_retry_success = %d, want 1", got)
	}
	if got := hits.Load(); got != 3 {
		t.Errorf("backend saw %d attempts, want 3", got)
	}
}

func TestExhaustedRetriesPassTheLastResponseOnWithURX(t *testing.T) {
	var hits atomic.Int32
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(503)
		io.WriteString(w, "backend says no")
	})
	logPath := filepath.Join(t.TempDir(), "access.log")
	cfg := strings.Replace(httpProxyConfig(`              - match: {prefix: "/"}
                route:
                  cluster: backend
                  retry_policy: {retry_on: 5xx, num_retries: 2, retry_back_off: {base_interval: 0.001s}}`,
		staticCluster("backend", "", be)),
		"          stat_prefix: main\n",
		"          stat_prefix: main\n          access_log:\n          - name: envoy.access_loggers.file\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\n              path: "+logPath+"\n              log_format: {text_format_source: {inline_string: \"%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_REQUEST_ATTEMPT_COUNT%\\n\"}}\n", 1)
	s, addr := startProxy(t, cfg)
	code, body, _ := get(t, http.DefaultClient, "http://"+addr+"/")
	if code != 503 || body != "backend says no" {
		t.Fatalf("got %d %q, want the backend's own 503", code, body)
	}
	if got := hits.Load(); got != 3 {
		t.Errorf("backend saw %d attempts, want 3", got)
	}
	s.Close() // flushes the access log
	logged, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(logged)); got != "503 URX 3" {
		t.Errorf("access log %q, want \"503 URX 3\"", got)
	}
}

func TestRouteTimeoutAnswers504UT(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	s, addr := startProxy(t, httpProxyConfig(`              - match: {prefix: "/"}
                route: {cluster: backend, timeout: 0.2s}`,
		staticCluster("backend", "", be)))
	code, body, _ := get(t, http.DefaultClient, "http://"+addr+"/")
	if code != 504 || body != "upstream request timeout" {
		t.Fatalf("got %d %q, want 504 upstream request timeout", code, body)
	}
	if got := counter(s, "cluster.backend.upstream_rq_timeout"); got != 1 {
		t.Errorf("upstream_rq_timeout = %d, want 1", got)
	}
}

func TestPerTryTimeoutRetriesOnAnotherAttempt(t *testing.T) {
	var hits atomic.Int32
	release := make(chan struct{})
	defer close(release)
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "second")
	})
	s, addr := startProxy(t, httpProxyConfig(`              - match: {prefix: "/"}
                route:
                  cluster: backend
                  timeout: 10s
                  retry_policy: {retry_on: 5xx, num_retries: 1, per_try_timeout: 0.1s, retry_back_off: {base_interval: 0.001s}}`,
		staticCluster("backend", "", be)))
	code, body, _ := get(t, http.DefaultClient, "http://"+addr+"/")
	if code != 200 || body != "second" {
		t.Fatalf("got %d %q, want the second attempt's answer", code, body)
	}
	if got := counter(s, "cluster.backend.upstream_rq_per_try_timeout"); got != 1 {
		t.Errorf("upstream_rq_per_try_timeout = %d, want 1", got)
	}
}

func TestWeightedClustersSplitTrafficWithinTolerance(t *testing.T) {
	a := httpBackend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") })
	b := httpBackend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	_, addr := startProxy(t, httpProxyConfig(`              - match: {prefix: "/"}
                route:
                  weighted_clusters:
                    clusters: [{name: a, weight: 80}, {name: b, weight: 20}]`,
		staticCluster("a", "", a)+staticCluster("b", "", b)))
	const n = 1000
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		_, body, _ := get(t, http.DefaultClient, "http://"+addr+"/")
		counts[body]++
	}
	if counts["a"]+counts["b"] != n {
		t.Fatalf("unexpected answers: %v", counts)
	}
	// 80% of 1000 has a standard deviation of ~12.6; ±50 is four of them.
	if counts["a"] < 750 || counts["a"] > 850 {
		t.Fatalf("split a/b = %d/%d, want 800±50 to a", counts["a"], counts["b"])
	}
}

func TestCircuitBreakerOverflowAnswers503UO(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "ok")
	})
	s, addr := startProxy(t, httpProxyConfig(`              - match: {prefix: "/"}
                route: {cluster: backend}`,
		staticCluster("backend", "    circuit_breakers: {thresholds: [{max_connections: 1, max_pending_requests: 1, max_requests: 1}]}\n", be)))

	first := make(chan int, 1)
	go func() {
		code, _, _ := get(t, &http.Client{Transport: &http.Transport{}}, "http://"+addr+"/")
		first <- code
	}()
	<-started
	code, body, _ := get(t, &http.Client{Transport: &http.Transport{}}, "http://"+addr+"/")
	close(release)
	if code != 503 || !strings.Contains(body, "overflow") {
		t.Fatalf("second request got %d %q, want 503 overflow", code, body)
	}
	if c := <-first; c != 200 {
		t.Fatalf("first request got %d, want 200", c)
	}
	if counter(s, "cluster.backend.upstream_rq_pending_overflow") == 0 {
		t.Error("upstream_rq_pending_overflow did not move")
	}
}

func TestNoRouteAndNoHealthyUpstreamAreAnsweredLocally(t *testing.T) {
	_, addr := startProxy(t, httpProxyConfig(`              - match: {prefix: "/empty"}
                route: {cluster: empty}`,
		`  - name: empty
    connect_timeout: 1s
    load_assignment: {cluster_name: empty}
`))
	if code, _, _ := get(t, http.DefaultClient, "http://"+addr+"/nowhere"); code != 404 {
		t.Errorf("unrouted request got %d, want 404", code)
	}
	if code, body, _ := get(t, http.DefaultClient, "http://"+addr+"/empty"); code != 503 || body != "no healthy upstream" {
		t.Errorf("request to an empty cluster got %d %q, want 503 no healthy upstream", code, body)
	}
}

// protoEcho answers with the protocol the request arrived in.
func protoEcho(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }

func TestHTTP1DownstreamReachesAnHTTP2UpstreamAndBack(t *testing.T) {
	h2be := httpBackend(t, h2c.NewHandler(http.HandlerFunc(protoEcho), &http2.Server{}).ServeHTTP)
	h1be := httpBackend(t, protoEcho)
	h2opts := `    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
`
	_, addr := startProxy(t, httpProxyConfig(`              - match: {prefix: "/h2"}
                route: {cluster: h2}
              - match: {prefix: "/h1"}
                route: {cluster: h1}`,
		staticCluster("h2", h2opts, h2be)+staticCluster("h1", "", h1be)))

	h1client := &http.Client{Transport: &http.Transport{}}
	h2client := looptest.H2CClient(t)
	for _, tc := range []struct {
		name   string
		client *http.Client
		path   string
		want   string
	}{
		{name: "HTTP/1.1 client to HTTP/2 upstream", client: h1client, path: "/h2", want: "HTTP/2.0"},
		{name: "h2c client to HTTP/1.1 upstream", client: h2client, path: "/h1", want: "HTTP/1.1"},
		{name: "h2c client to HTTP/2 upstream", client: h2client, path: "/h2", want: "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := get(t, tc.client, "http://"+addr+tc.path)
			if code != 200 || body != tc.want {
				t.Fatalf("got %d %q, want upstream protocol %s", code, body, tc.want)
			}
		})
	}
}

// A chunked request body streams through to the upstream and the
// upstream's streamed answer comes back before the request has ended.
func TestBodiesStreamInBothDirectionsWithoutBuffering(t *testing.T) {
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		// net/http's HTTP/1 server stops reading the request once the
		// response starts unless asked for full duplex.
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			t.Errorf("full duplex: %v", err)
		}
		br := bufio.NewReader(r.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			io.WriteString(w, "echo "+line)
			w.(http.Flusher).Flush()
		}
	})
	_, addr := startProxy(t, httpProxyConfig(`              - match: {prefix: "/"}
                route: {cluster: backend, timeout: 0s}`,
		staticCluster("backend", "", be)))

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+addr+"/", pr)
	var once sync.Once
	go fmt.Fprint(pw, "one\n") // a pipe write waits for the transport to read it
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	defer once.Do(func() { pw.Close() })
	br := bufio.NewReader(resp.Body)
	for _, word := range []string{"one", "two", "three"} {
		if word != "one" {
			fmt.Fprintf(pw, "%s\n", word)
		}
		line, err := br.ReadString('\n')
		if err != nil || line != "echo "+word+"\n" {
			t.Fatalf("read %q, %v; want the echo of %q while the request is still open", line, err, word)
		}
	}
	once.Do(func() { pw.Close() })
	rest, _ := io.ReadAll(br)
	if len(rest) != 0 {
		t.Fatalf("unexpected trailing body %q", rest)
	}
}

// An upstream that dies mid-response resets the downstream stream, and the
// stream is still counted and logged.
func TestAStreamResetMidResponseIsStillLogged(t *testing.T) {
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		io.WriteString(w, "only ten b")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	logPath := filepath.Join(t.TempDir(), "access.log")
	cfg := strings.Replace(httpProxyConfig(`              - match: {prefix: "/"}
                route: {cluster: backend}`,
		staticCluster("backend", "", be)),
		"          stat_prefix: main\n",
		"          stat_prefix: main\n          access_log:\n          - name: envoy.access_loggers.file\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog\n              path: "+logPath+"\n              log_format: {text_format_source: {inline_string: \"%RESPONSE_CODE% %RESPONSE_FLAGS%\\n\"}}\n", 1)
	s, addr := startProxy(t, cfg)
	resp, err := http.Get("http://" + addr + "/")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("the client read a whole response although the upstream died mid-body")
	}
	waitForCounter(t, s, "http.main.downstream_rq_2xx", 1)
	s.Close()
	logged, _ := os.ReadFile(logPath)
	if got := strings.TrimSpace(string(logged)); !strings.HasPrefix(got, "200 ") || !strings.Contains(got, "U") {
		t.Fatalf("access log %q, want one 200 entry with an upstream failure flag", got)
	}
}

func waitForCounter(t *testing.T, s *Server, name string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for counter(s, name) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", name, counter(s, name), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
