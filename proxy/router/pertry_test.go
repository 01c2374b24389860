package router

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// slowBody is a request body written in chunks, one every interval, so
// that the whole body takes chunks × interval to arrive.
func slowBody(t *testing.T, chunks int, interval time.Duration) (io.Reader, string) {
	pr, pw := io.Pipe()
	want := strings.Repeat("0123456789", chunks)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < chunks; i++ {
			select {
			case <-time.After(interval):
			case <-stop:
				pw.CloseWithError(io.ErrUnexpectedEOF)
				return
			}
			if _, err := io.WriteString(pw, want[:10]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	t.Cleanup(func() {
		close(stop)
		pr.Close()
		<-done
	})
	return pr, want
}

// bodyCounter counts the requests whose whole body (want) an upstream
// received.
type bodyCounter struct {
	want  string
	whole atomic.Int32
}

func (c *bodyCounter) read(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	if string(b) == c.want {
		c.whole.Add(1)
	}
	return string(b)
}

// hangAfterBody reads the whole body, then holds the response headers
// back until the try is abandoned.
func (c *bodyCounter) hangAfterBody(w http.ResponseWriter, r *http.Request) {
	c.read(r)
	select {
	case <-time.After(10 * time.Second):
	case <-r.Context().Done():
	}
}

func (c *bodyCounter) echo(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "echo:"+c.read(r))
}

func TestPerTryTimeoutStartsOnceTheWholeRequestIsReceived(t *testing.T) {
	// The body takes 6 × 250 ms = 1.5 s to arrive, five times the per-try
	// timeout of 0.3 s; an upstream answers within milliseconds of the
	// body's end or holds its headers for 10 s.
	const chunks, interval = 6, 250 * time.Millisecond
	tests := []struct {
		name         string
		h2Down       bool // the client speaks h2c to the proxy
		h2Up         bool // the cluster speaks h2c to the upstream
		sized        bool // the request has a Content-Length (else it is chunked)
		upstream     func(c *bodyCounter) http.HandlerFunc
		retryPolicy  string
		wantStatus   int
		wantFlags    string
		wantPerTry   uint64 // upstream_rq_per_try_timeout
		wantRetries  uint64
		wantWhole    int32 // tries whose upstream got the whole body
		wantRespBody bool  // the answer echoes the body
	}{
		{name: "a body sent slowly for longer than the per-try timeout is not cut by it",
			upstream:    func(c *bodyCounter) http.HandlerFunc { return c.echo },
			retryPolicy: `{retry_on: 5xx, num_retries: 0, per_try_timeout: 0.3s}`,
			wantStatus:  200, wantFlags: "-", wantWhole: 1, wantRespBody: true},
		{name: "a slow body with retries possible (buffered for replay) is not cut either", h2Down: true, h2Up: true,
			upstream:    func(c *bodyCounter) http.HandlerFunc { return c.echo },
			retryPolicy: `{retry_on: 5xx, num_retries: 2, per_try_timeout: 0.3s}`,
			wantStatus:  200, wantFlags: "-", wantWhole: 1, wantRespBody: true},
		{name: "headers held past the per-try timeout after the body are 504 UT once the retries are spent",
			upstream:    func(c *bodyCounter) http.HandlerFunc { return c.hangAfterBody },
			retryPolicy: `{retry_on: 5xx, num_retries: 2, per_try_timeout: 0.3s, retry_back_off: {base_interval: 0.01s}}`,
			wantStatus:  504, wantFlags: "UT,URX", wantPerTry: 3, wantRetries: 2, wantWhole: 3},
		{name: "headers held past the per-try timeout after a body of known length are 504 UT", sized: true,
			upstream:    func(c *bodyCounter) http.HandlerFunc { return c.hangAfterBody },
			retryPolicy: `{retry_on: 5xx, num_retries: 1, per_try_timeout: 0.3s, retry_back_off: {base_interval: 0.01s}}`,
			wantStatus:  504, wantFlags: "UT,URX", wantPerTry: 2, wantRetries: 1, wantWhole: 2},
		{name: "the same over HTTP/2 both ways", sized: true, h2Down: true, h2Up: true,
			upstream:    func(c *bodyCounter) http.HandlerFunc { return c.hangAfterBody },
			retryPolicy: `{retry_on: 5xx, num_retries: 1, per_try_timeout: 0.3s, retry_back_off: {base_interval: 0.01s}}`,
			wantStatus:  504, wantFlags: "UT,URX", wantPerTry: 2, wantRetries: 1, wantWhole: 2},
		{name: "a retry after a per-try timeout sends the buffered body at once and succeeds", h2Up: true,
			upstream: func(c *bodyCounter) http.HandlerFunc {
				var calls atomic.Int32
				return func(w http.ResponseWriter, r *http.Request) {
					if calls.Add(1) == 1 {
						c.hangAfterBody(w, r)
						return
					}
					c.echo(w, r)
				}
			},
			retryPolicy: `{retry_on: 5xx, num_retries: 1, per_try_timeout: 0.3s, retry_back_off: {base_interval: 0.01s}}`,
			wantStatus:  200, wantFlags: "-", wantPerTry: 1, wantRetries: 1, wantWhole: 2, wantRespBody: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // the cases mostly wait
			body, want := slowBody(t, chunks, interval)
			counter := &bodyCounter{want: want}
			var up string
			if tt.h2Up {
				up = h2Upstream(t, tt.upstream(counter))
			} else {
				up = h1Upstream(t, tt.upstream(counter))
			}
			p := newProxy(t, staticCluster("backend", tt.h2Up, "", up),
				routeTo("backend", ", retry_policy: "+tt.retryPolicy))
			client := h1Client(t)
			if tt.h2Down {
				client = looptest.H2CClient(t)
			}
			req, err := http.NewRequest("POST", p.url+"/", body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.sized {
				req.ContentLength = int64(len(want))
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, got, tt.wantStatus)
			}
			if tt.wantRespBody && string(got) != "echo:"+want {
				t.Errorf("body %q, want %q", got, "echo:"+want)
			}
			if flags := p.lastInfo().Flags.String(); flags != tt.wantFlags {
				t.Errorf("flags %s, want %s", flags, tt.wantFlags)
			}
			if n := p.counter("backend", "upstream_rq_per_try_timeout"); n != tt.wantPerTry {
				t.Errorf("upstream_rq_per_try_timeout = %d, want %d", n, tt.wantPerTry)
			}
			if n := p.counter("backend", "upstream_rq_retry"); n != tt.wantRetries {
				t.Errorf("upstream_rq_retry = %d, want %d", n, tt.wantRetries)
			}
			if n := counter.whole.Load(); n != tt.wantWhole {
				t.Errorf("%d tries reached the upstream with the whole body, want %d", n, tt.wantWhole)
			}
			p.expectIdle("backend")
		})
	}
}
