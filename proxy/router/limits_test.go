package router

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/proxy/failure"
)

func TestRetryEdgeCases(t *testing.T) {
	tests := []struct {
		name       string
		extra      string // cluster fields
		action     string
		header     []string
		body       string
		wantStatus int
		wantFlags  string
		wantStats  map[string]uint64
	}{
		{name: "the max_retries breaker stops a retry",
			extra:  "circuit_breakers: {thresholds: [{max_retries: 0}]}",
			action: ", retry_policy: {retry_on: 5xx, num_retries: 3}", wantStatus: 503, wantFlags: "-",
			wantStats: map[string]uint64{"upstream_rq_retry": 0, "upstream_rq_retry_overflow": 1}},
		{name: "x-envoy-retry-on and x-envoy-max-retries add retries to a route without a policy",
			header:     []string{"X-Envoy-Retry-On", "5xx", "X-Envoy-Max-Retries", "2"},
			wantStatus: 503, wantFlags: "URX",
			wantStats: map[string]uint64{"upstream_rq_retry": 2, "upstream_rq_total": 3}},
		{name: "a body beyond the buffer limit is not retried",
			action: ", retry_policy: {retry_on: 5xx}", body: strings.Repeat("b", 4096),
			wantStatus: 503, wantFlags: "-", wantStats: map[string]uint64{"upstream_rq_retry": 0}},
		{name: "a back-off cut by the route timeout is 504 UT",
			action:     ", timeout: 0.1s, retry_policy: {retry_on: 5xx, num_retries: 5, retry_back_off: {base_interval: 2s}}",
			wantStatus: 504, wantFlags: "UT", wantStats: map[string]uint64{"upstream_rq_timeout": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := h1Upstream(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body) // the whole body has gone by
				w.WriteHeader(503)
			})
			routes := `
virtual_hosts:
- name: all
  domains: ["*"]
  per_request_buffer_limit_bytes: 1024
  routes:
  - match: {prefix: /}
    route: {cluster: backend` + tt.action + `}
`
			p := newProxy(t, staticCluster("backend", false, tt.extra, up), routes)
			resp, _ := get(t, h1Client(t), "POST", p.url+"/", tt.body, tt.header...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := p.lastInfo().Flags.String(); got != tt.wantFlags {
				t.Errorf("flags %s, want %s", got, tt.wantFlags)
			}
			for name, want := range tt.wantStats {
				if got := p.counter("backend", name); got != want {
					t.Errorf("%s = %d, want %d", name, got, want)
				}
			}
			p.expectIdle("backend")
		})
	}
}

func TestRouteIdleTimeoutEndsAStalledStream(t *testing.T) {
	up := h2Upstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	p := newProxy(t, staticCluster("stalled", true, "", up), routeTo("stalled", ", timeout: 0s, idle_timeout: 0.1s"))
	resp, body := get(t, h1Client(t), "GET", p.url+"/", "")
	if resp.StatusCode != http.StatusRequestTimeout || body != "stream timeout" {
		t.Fatalf("got %d %q, want 408 stream timeout", resp.StatusCode, body)
	}
	if got := p.lastInfo().Flags.String(); got != "SI" {
		t.Errorf("flags %s, want SI", got)
	}
}

func TestAStreamEndedByTheConnectionManagerIsNotADisconnect(t *testing.T) {
	up := h2Upstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	p := newProxy(t, staticCluster("backend", true, "", up), routeTo("backend", ", timeout: 0s"))
	// Stand in for the connection manager's stream idle timeout: cancel the
	// request's context with the failure as cause, as it does.
	p.wrap = func(r *http.Request) *http.Request {
		ctx, cancel := context.WithCancelCause(r.Context())
		time.AfterFunc(50*time.Millisecond, func() { cancel(failure.ErrStreamIdleTimeout) })
		return r.WithContext(ctx)
	}
	get(t, h1Client(t), "GET", p.url+"/", "")
	if got := p.lastInfo().Flags.String(); got != "SI" {
		t.Errorf("flags %s, want SI", got)
	}
	p.expectIdle("backend")
}

func TestARemovedClusterLetsItsActiveRequestFinish(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	up := h1Upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	})
	p := newProxy(t, staticCluster("old", false, "", up), routeTo("old", ""))
	c := h1Client(t)
	get(t, c, "GET", p.url+"/warm", "") // leaves an idle connection
	old := p.clusters.Get("old")
	result := make(chan string, 1)
	go func() {
		resp, err := c.Get(p.url + "/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-entered
	if err := p.clusters.Update(nil, "clusters"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if got := <-result; got != "done" {
		t.Fatalf("in-flight request on the removed cluster got %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for old.Stats().CxActive.Value() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("removed cluster still has %d connections", old.Stats().CxActive.Value())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestExpectContinueIsAnsweredLocallyAndNotForwarded(t *testing.T) {
	seen := make(chan string, 1)
	up := h2Upstream(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Expect")
		echo(w, r)
	})
	p := newProxy(t, staticCluster("backend", true, "", up), routeTo("backend", ""))
	resp, body := get(t, h1Client(t), "PUT", p.url+"/", "large enough", "Expect", "100-continue")
	if resp.StatusCode != 200 || body != "echo:large enough" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := <-seen; got != "" {
		t.Errorf("upstream saw Expect: %q", got)
	}
}
