package server

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Virtual host, cluster and router fields, each through the assembled
// proxy.

// failFirstBackend answers 503 to its first request and echoes (see
// echoBackend) after that; it records each request's x-envoy-attempt-count.
func failFirstBackend(t *testing.T, attempts *[]string, mu *sync.Mutex) string {
	var n atomic.Int32
	echo := func(w http.ResponseWriter, r *http.Request) {
		for k, v := range r.Header {
			w.Header().Set("Echo-"+k, strings.Join(v, ","))
		}
		io.WriteString(w, "ok")
	}
	return httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		*attempts = append(*attempts, r.Header.Get("X-Envoy-Attempt-Count"))
		mu.Unlock()
		if n.Add(1) == 1 {
			w.WriteHeader(503)
			return
		}
		echo(w, r)
	})
}

const retry5xx = `retry_policy: {retry_on: 5xx, num_retries: 1, retry_back_off: {base_interval: 0.001s}}`

func TestAttemptCountsAreSentWhenTheVirtualHostAsks(t *testing.T) {
	var (
		mu       sync.Mutex
		attempts []string
	)
	be := failFirstBackend(t, &attempts, &mu)
	_, addr := startProxy(t, bootstrapYAML(
		vhost("include_request_attempt_count: true, include_attempt_count_in_response: true",
			`{match: {prefix: /}, route: {cluster: backend, `+retry5xx+`}}`),
		"", clusterYAML("backend", "", be)))
	resp, body := do(t, addr, "GET", "/")
	wantStatus(t, resp, body, 200, "ok")
	wantHeaders(t, resp.Header, map[string]string{"X-Envoy-Attempt-Count": "2"})
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(attempts, ",") != "1,2" {
		t.Errorf("the upstream saw x-envoy-attempt-count %q, want 1 then 2", attempts)
	}
}

func TestPerRequestBufferLimitDecidesWhetherABodyCanBeRetried(t *testing.T) {
	tests := []struct {
		name              string
		vhostExtra, route string
		want              int
	}{
		{name: "a body larger than the virtual host's limit is not retried",
			vhostExtra: "per_request_buffer_limit_bytes: 16", want: 503},
		{name: "a route's larger limit overrides its virtual host's",
			vhostExtra: "per_request_buffer_limit_bytes: 16", route: ", per_request_buffer_limit_bytes: 1024", want: 200},
		{name: "a body within Envoy's default limit is retried", want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu       sync.Mutex
				attempts []string
			)
			be := failFirstBackend(t, &attempts, &mu)
			s, addr := startProxy(t, bootstrapYAML(
				vhost(tt.vhostExtra, `{match: {prefix: /}, route: {cluster: backend, `+retry5xx+`}`+tt.route+`}`),
				"", clusterYAML("backend", "", be)))
			resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader(strings.Repeat("b", 100)))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			wantRetries := uint64(0)
			if tt.want == 200 {
				wantRetries = 1
			}
			if got := counter(s, "cluster.backend.upstream_rq_retry"); got != wantRetries {
				t.Errorf("upstream_rq_retry = %d, want %d", got, wantRetries)
			}
		})
	}
}

func TestAltStatNameNamesTheClustersStats(t *testing.T) {
	be := echoBackend(t)
	s, addr := startProxy(t, bootstrapYAML(vhost("", `{match: {prefix: /}, route: {cluster: backend}}`), "",
		clusterYAML("backend", "    alt_stat_name: backend_8080\n    metadata: {filter_metadata: {istio: {version: v1}}}\n", be)))
	resp, body := do(t, addr, "GET", "/")
	wantStatus(t, resp, body, 200, "ok")
	if got := counter(s, "cluster.backend_8080.upstream_rq_total"); got != 1 {
		t.Errorf("cluster.backend_8080.upstream_rq_total = %d, want 1", got)
	}
	if got := counter(s, "cluster.backend.upstream_rq_total"); got != 0 {
		t.Errorf("cluster.backend.upstream_rq_total = %d, want 0: the stats go by alt_stat_name", got)
	}
}

func TestAnEndpointsHostnameIsWhatAutoHostRewriteSends(t *testing.T) {
	be := echoBackend(t)
	cluster := strings.Replace(clusterYAML("backend", "", be), "}}}}", "}}, hostname: api.internal}}", 1)
	_, addr := startProxy(t, bootstrapYAML(vhost("", `{match: {prefix: /}, route: {cluster: backend, auto_host_rewrite: true}}`), "", cluster))
	resp, _ := do(t, addr, "GET", "/", "Host", "front.example")
	wantHeaders(t, resp.Header, map[string]string{"Echo-Host": "api.internal"})
}

func TestUnhealthyEndpointsGetNoTraffic(t *testing.T) {
	be := echoBackend(t)
	dead := closedAddr(t)
	s, addr := startProxy(t, bootstrapYAML(vhost("", `{match: {prefix: /}, route: {cluster: backend}}`), "",
		clusterYAML("backend", "", be, dead+"|health_status: UNHEALTHY", be+"|health_status: HEALTHY")))
	for i := 0; i < 20; i++ {
		resp, body := do(t, addr, "GET", "/")
		wantStatus(t, resp, body, 200, "ok")
	}
	if got := counter(s, "cluster.backend.upstream_cx_connect_fail"); got != 0 {
		t.Errorf("upstream_cx_connect_fail = %d, want 0: the unhealthy endpoint was tried", got)
	}
	if got := gauge(s, "cluster.backend.membership_healthy"); got != 2 {
		t.Errorf("membership_healthy = %d, want 2", got)
	}
}

func TestTrackRemainingPublishesTheRoomLeftUnderEachThreshold(t *testing.T) {
	release := make(chan struct{})
	inFlight := make(chan struct{}, 1)
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		inFlight <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	s, addr := startProxy(t, bootstrapYAML(vhost("", `{match: {prefix: /}, route: {cluster: backend}}`), "",
		clusterYAML("backend", "    circuit_breakers: {thresholds: [{max_requests: 5, max_retries: 2, track_remaining: true}]}\n", be)))
	for name, want := range map[string]int64{
		"cluster.backend.circuit_breakers.default.remaining_rq":      5,
		"cluster.backend.circuit_breakers.default.remaining_retries": 2,
	} {
		if got := gauge(s, name); got != want {
			t.Errorf("idle: %s = %d, want %d", name, got, want)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	receive(t, inFlight)
	if got := gauge(s, "cluster.backend.circuit_breakers.default.remaining_rq"); got != 4 {
		t.Errorf("one request in flight: remaining_rq = %d, want 4", got)
	}
	close(release)
	receive(t, done)
}

func TestRespectExpectedRqTimeoutTakesTheTimeoutFromTheDownstreamHeader(t *testing.T) {
	for _, tt := range []struct {
		name   string
		router string
		want   int
	}{
		{name: "with respect_expected_rq_timeout the header's 100ms is the route timeout",
			router: "respect_expected_rq_timeout: true", want: 504},
		{name: "without it the header is not a timeout", want: 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-time.After(300 * time.Millisecond):
					io.WriteString(w, "slow")
				case <-r.Context().Done():
				}
			})
			s, addr := startProxy(t, bootstrapYAML(vhost("", `{match: {prefix: /}, route: {cluster: backend, timeout: 5s}}`),
				tt.router, clusterYAML("backend", "", be)))
			resp, body := do(t, addr, "GET", "/", "X-Envoy-Expected-Rq-Timeout-Ms", "100")
			wantStatus(t, resp, body, tt.want, "")
			wantTimeouts := uint64(0)
			if tt.want == 504 {
				wantTimeouts = 1
			}
			if got := counter(s, "cluster.backend.upstream_rq_timeout"); got != wantTimeouts {
				t.Errorf("upstream_rq_timeout = %d, want %d", got, wantTimeouts)
			}
		})
	}
}
