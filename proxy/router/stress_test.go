package router

import (
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// TestConcurrentTrafficWithFailuresKeepsTheBooks sends concurrent requests
// over both downstream protocols to HTTP/1.1 and HTTP/2 endpoints that
// answer, fail, reset or stall at random, then checks that every request
// was answered and that no request, pending request or retry is left
// accounted as active.
func TestConcurrentTrafficWithFailuresKeepsTheBooks(t *testing.T) {
	flakyHandler := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch rand.IntN(6) {
		case 0:
			w.WriteHeader(503)
		case 1:
			panic(http.ErrAbortHandler)
		case 2:
			time.Sleep(30 * time.Millisecond) // beyond the per-try timeout
		}
		io.WriteString(w, "ok")
	}
	h1a, h1b := h1Upstream(t, flakyHandler), h1Upstream(t, flakyHandler)
	h2a := h2Upstream(t, flakyHandler)
	p := newProxy(t, staticCluster("h1", false, "circuit_breakers: {thresholds: [{max_connections: 4, max_pending_requests: 64}]}", h1a, h1b)+
		staticCluster("h2", true, "", h2a), `
virtual_hosts:
- name: all
  domains: ["*"]
  retry_policy: {retry_on: "5xx,reset", num_retries: 2, per_try_timeout: 0.02s, retry_back_off: {base_interval: 0.001s}}
  routes:
  - match: {prefix: /h1}
    route: {cluster: h1}
  - match: {prefix: /h2}
    route: {cluster: h2}
`)
	clients := []*http.Client{h1Client(t), looptest.H2CClient(t)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[g%2]
			for i := range 40 {
				path := "/h1"
				if i%2 == 1 {
					path = "/h2"
				}
				resp, err := c.Post(p.url+path, "text/plain", nil)
				if err != nil {
					t.Errorf("%s: %v", path, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200, 503, 504:
				default:
					t.Errorf("%s: unexpected status %d", path, resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	p.expectIdle("h1")
	p.expectIdle("h2")
	if p.counter("h1", "upstream_rq_retry") == 0 || p.counter("h2", "upstream_rq_retry") == 0 {
		t.Error("no request was retried: the failures did not happen")
	}
}
