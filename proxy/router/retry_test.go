package router

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flaky fails the first n requests with fail, then echoes.
func flaky(n int32, fail func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	var calls atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			fail(w, r)
			return
		}
		echo(w, r)
	}
}

func answer(code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

func reset(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }

func sleep(d time.Duration) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name        string
		h2          bool
		upstream    http.HandlerFunc
		retryPolicy string
		body        string
		wantStatus  int
		wantFlags   string
		wantRetries uint64
		wantStat    string // another counter that must be 1
	}{
		{name: "a 503 is retried and the retry succeeds",
			upstream: flaky(1, answer(503)), retryPolicy: `{retry_on: 5xx, num_retries: 2}`,
			wantStatus: 200, wantFlags: "-", wantRetries: 1, wantStat: "upstream_rq_retry_success"},
		{name: "a request body is replayed on the retry", h2: true,
			upstream: flaky(2, answer(502)), retryPolicy: `{retry_on: gateway-error, num_retries: 3}`, body: "replay me",
			wantStatus: 200, wantFlags: "-", wantRetries: 2, wantStat: "upstream_rq_502"},
		{name: "retries run out with flag URX and the last answer",
			upstream: flaky(10, answer(503)), retryPolicy: `{retry_on: 5xx, num_retries: 2}`,
			wantStatus: 503, wantFlags: "URX", wantRetries: 2, wantStat: "upstream_rq_retry_limit_exceeded"},
		{name: "a code outside retry_on is not retried",
			upstream: flaky(1, answer(500)), retryPolicy: `{retry_on: gateway-error}`,
			wantStatus: 500, wantFlags: "-", wantRetries: 0},
		{name: "retriable status codes are retried",
			upstream: flaky(1, answer(418)), retryPolicy: `{retry_on: retriable-status-codes, retriable_status_codes: [418]}`,
			wantStatus: 200, wantFlags: "-", wantRetries: 1},
		{name: "an HTTP/1 reset is retried",
			upstream: flaky(1, reset), retryPolicy: `{retry_on: reset}`,
			wantStatus: 200, wantFlags: "-", wantRetries: 1},
		{name: "an HTTP/2 stream reset is retried", h2: true,
			upstream: flaky(1, reset), retryPolicy: `{retry_on: reset}`,
			wantStatus: 200, wantFlags: "-", wantRetries: 1},
		{name: "an unretried reset is 503 UR", h2: true,
			upstream: flaky(1, reset), retryPolicy: `{retry_on: connect-failure}`,
			wantStatus: 503, wantFlags: "UR", wantStat: "upstream_rq_rx_reset"},
		{name: "a per-try timeout is retried", h2: true,
			upstream: flaky(1, sleep(5*time.Second)), retryPolicy: `{retry_on: 5xx, per_try_timeout: 0.1s}`,
			wantStatus: 200, wantFlags: "-", wantRetries: 1, wantStat: "upstream_rq_per_try_timeout"},
		{name: "a per-try timeout without retries left is 504 UT",
			upstream: sleep(5 * time.Second), retryPolicy: `{retry_on: 5xx, num_retries: 1, per_try_timeout: 0.05s}`,
			wantStatus: 504, wantFlags: "UT,URX", wantRetries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var up string
			if tt.h2 {
				up = h2Upstream(t, tt.upstream)
			} else {
				up = h1Upstream(t, tt.upstream)
			}
			p := newProxy(t, staticCluster("backend", tt.h2, "", up),
				routeTo("backend", ", retry_policy: "+tt.retryPolicy))
			method := "GET"
			if tt.body != "" {
				method = "POST"
			}
			resp, body := get(t, h1Client(t), method, p.url+"/", tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 200 && body != "echo:"+tt.body {
				t.Errorf("body %q, want %q", body, "echo:"+tt.body)
			}
			if got := p.lastInfo().Flags.String(); got != tt.wantFlags {
				t.Errorf("flags %s, want %s", got, tt.wantFlags)
			}
			if got := p.counter("backend", "upstream_rq_retry"); got != tt.wantRetries {
				t.Errorf("upstream_rq_retry = %d, want %d", got, tt.wantRetries)
			}
			if tt.wantStat != "" && p.counter("backend", tt.wantStat) == 0 {
				t.Errorf("%s did not move", tt.wantStat)
			}
			p.expectIdle("backend")
		})
	}
}

func TestConnectFailureRetriesOnAnotherHost(t *testing.T) {
	up := h1Upstream(t, echo)
	p := newProxy(t, staticCluster("pair", false, "", closedAddr(t), up), routeTo("pair", `, retry_policy: {
        retry_on: connect-failure, num_retries: 1,
        retry_host_predicate: [{name: envoy.retry_host_predicates.previous_hosts}],
        host_selection_retry_max_attempts: 3}`))
	c := h1Client(t)
	for i := range 10 {
		resp, _ := get(t, c, "GET", p.url+"/", "")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d, flags %s", i, resp.StatusCode, p.lastInfo().Flags)
		}
	}
	if p.counter("pair", "upstream_cx_connect_fail") == 0 || p.counter("pair", "upstream_rq_retry") == 0 {
		t.Errorf("connect_fail %d, retries %d: the dead host was never tried",
			p.counter("pair", "upstream_cx_connect_fail"), p.counter("pair", "upstream_rq_retry"))
	}
}

func TestRouteTimeoutIs504UT(t *testing.T) {
	up := h2Upstream(t, sleep(5*time.Second))
	p := newProxy(t, staticCluster("slow", true, "", up), routeTo("slow", ", timeout: 0.1s"))
	resp, body := get(t, h1Client(t), "GET", p.url+"/", "")
	if resp.StatusCode != 504 || body != "upstream request timeout" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := p.lastInfo().Flags.String(); got != "UT" {
		t.Errorf("flags %s, want UT", got)
	}
	if p.counter("slow", "upstream_rq_timeout") != 1 {
		t.Errorf("upstream_rq_timeout = %d", p.counter("slow", "upstream_rq_timeout"))
	}
	p.expectIdle("slow")
}

func TestMaxRequestsOverflowIs503UO(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	up := h2Upstream(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	p := newProxy(t, staticCluster("small", true, "circuit_breakers: {thresholds: [{max_requests: 1}]}", up), routeTo("small", ""))
	c := h1Client(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		get(t, c, "GET", p.url+"/first", "")
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("first request never reached the upstream")
	}
	resp, body := get(t, c, "GET", p.url+"/second", "")
	close(release)
	wg.Wait()
	if resp.StatusCode != 503 || p.lastInfo().Flags.String() != "UO" {
		t.Fatalf("second request: %d %q flags %s, want 503 UO", resp.StatusCode, body, p.lastInfo().Flags)
	}
	if p.counter("small", "upstream_rq_pending_overflow") != 1 {
		t.Errorf("upstream_rq_pending_overflow = %d", p.counter("small", "upstream_rq_pending_overflow"))
	}
	p.expectIdle("small")
}

func TestMaxPendingRequestsOverflowIs503UO(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	up := h1Upstream(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	p := newProxy(t, staticCluster("small", false,
		"circuit_breakers: {thresholds: [{max_connections: 1, max_pending_requests: 1}]}", up), routeTo("small", ""))
	c := h1Client(t)
	var wg sync.WaitGroup
	results := make(chan int, 2)
	for _, path := range []string{"/busy", "/queued"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := get(t, c, "GET", p.url+path, "")
			results <- resp.StatusCode
		}()
		if path == "/busy" {
			<-entered
		}
	}
	// Wait until the second request sits in the pending queue.
	deadline := time.Now().Add(5 * time.Second)
	for p.gauge("small", "upstream_rq_pending_active") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("second request never became pending")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, _ := get(t, c, "GET", p.url+"/overflow", "")
	if resp.StatusCode != 503 || p.lastInfo().Flags.String() != "UO" {
		t.Errorf("third request: %d flags %s, want 503 UO", resp.StatusCode, p.lastInfo().Flags)
	}
	close(release)
	wg.Wait()
	close(results)
	for code := range results {
		if code != 200 {
			t.Errorf("a queued request got %d, want 200", code)
		}
	}
}

func TestDownstreamDisconnectCancelsTheUpstreamRequest(t *testing.T) {
	cancelled := make(chan struct{})
	up := h2Upstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		close(cancelled)
	})
	p := newProxy(t, staticCluster("backend", true, "", up), routeTo("backend", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/", nil)
	if _, err := h1Client(t).Do(req); err == nil {
		t.Fatal("request succeeded, want a client timeout")
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not cancelled")
	}
	if got := p.lastInfo().Flags.String(); got != "DC" {
		t.Fatalf("flags %s, want DC", got)
	}
	p.expectIdle("backend")
}
