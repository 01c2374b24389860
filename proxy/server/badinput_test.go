package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/outrider-mesh/outrider/internal/looptest"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Bad input through the whole proxy: raw bytes at its HTTP listener. Each
// case is answered, logged and counted the way Envoy does it, the
// connection is closed, nothing reaches the upstream that should not, and
// a well-behaved client on another connection is served meanwhile.

const badInputHCM = `          max_request_headers_kb: 1
          request_headers_timeout: 0.3s
`

func TestBadHTTP1InputIsRejectedLoggedAndCounted(t *testing.T) {
	tests := []struct {
		name string
		// send is written at once; the client then waits for the answer.
		send       string
		wantStatus string // the status line
		wantLog    string
		counters   map[string]uint64
		// maxUpstream is how many of its requests may reach the upstream.
		maxUpstream int32
	}{
		{
			name:       "a request line with an empty target is a 400",
			send:       "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
			wantStatus: "HTTP/1.1 400 Bad Request",
			wantLog:    "400 DPE http1.invalid_url",
		},
		{
			name:       "a request line whose method is not a token is a 400",
			send:       "GE(T / HTTP/1.1\r\nHost: x\r\n\r\n",
			wantStatus: "HTTP/1.1 400 Bad Request",
			wantLog:    "400 DPE http1.codec_error",
		},
		{
			name:       "a request line without a version is a 400",
			send:       "GET /\r\nHost: x\r\n\r\n",
			wantStatus: "HTTP/1.1 400 Bad Request",
			wantLog:    "400 DPE http1.codec_error",
		},
		{
			name:       "headers over max_request_headers_kb are a 431",
			send:       "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2048) + "\r\n\r\n",
			wantStatus: "HTTP/1.1 431 Request Header Fields Too Large",
			wantLog:    "431 DPE http1.headers_too_large",
			counters:   map[string]uint64{"http.main.downstream_rq_too_large": 1},
		},
		{
			name:       "headers not complete within request_headers_timeout are a 408",
			send:       "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: still",
			wantStatus: "HTTP/1.1 408 Request Timeout",
			wantLog:    "408 - request_header_timeout",
			counters:   map[string]uint64{"http.main.downstream_rq_header_timeout": 1},
		},
		{
			name:       "Content-Length with Transfer-Encoding is a 400",
			send:       "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			wantStatus: "HTTP/1.1 400 Bad Request",
			wantLog:    "400 DPE http1.content_length_and_chunked_not_allowed",
		},
		{
			name:       "conflicting Content-Lengths are a 400",
			send:       "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
			wantStatus: "HTTP/1.1 400 Bad Request",
			wantLog:    "400 DPE http1.content_length_not_allowed",
		},
		{
			name:       "an invalid Content-Length is a 400",
			send:       "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
			wantStatus: "HTTP/1.1 400 Bad Request",
			wantLog:    "400 DPE http1.content_length_not_allowed",
		},
		{
			name:        "an invalid chunk size is a 400 once the body is read",
			send:        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
			wantStatus:  "HTTP/1.1 400 Bad Request",
			wantLog:     "400 DPE http1.invalid_chunk",
			maxUpstream: 1, // the head may be forwarded before the body breaks
		},
		{
			name:       "obs-fold is a 400",
			send:       "GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
			wantStatus: "HTTP/1.1 400 Bad Request",
			wantLog:    "400 DPE http1.codec_error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var upstream atomic.Int32
			be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/good" {
					upstream.Add(1)
				}
				io.Copy(io.Discard, r.Body)
				io.WriteString(w, "ok")
			})
			cfg, logPath := withAccessLog(t, httpProxyConfig(`              - match: {prefix: "/"}
                route: {cluster: backend}`, staticCluster("backend", "", be)))
			cfg = strings.Replace(cfg, "          stat_prefix: main\n", "          stat_prefix: main\n"+badInputHCM, 1)
			s, addr := startProxy(t, cfg)

			good := keepServing(t, addr)
			c, br := looptest.Dial(t, addr)
			io.WriteString(c, tt.send)
			status, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the status line: %v", err)
			}
			if got := strings.TrimSuffix(status, "\r\n"); got != tt.wantStatus {
				t.Errorf("status line %q, want %q", got, tt.wantStatus)
			}
			head, _ := readHead(br)
			if !strings.Contains(strings.ToLower(head), "connection: close") {
				t.Errorf("the answer does not say Connection: close:\n%s", head)
			}
			io.Copy(io.Discard, br) // returns once the proxy closes the connection
			served := good.stop()

			var bad []string
			for _, line := range accessLog(t, s, logPath, 1+served) {
				if line != "200 - via_upstream" {
					bad = append(bad, line)
				}
			}
			if len(bad) != 1 || bad[0] != tt.wantLog {
				t.Errorf("access log has %q besides the good requests, want %q", bad, tt.wantLog)
			}
			want := map[string]uint64{
				"http.main.downstream_rq_4xx":   1,
				"http.main.downstream_rq_total": uint64(1 + served),
				"http.main.downstream_rq_2xx":   uint64(served),
			}
			for name, v := range tt.counters {
				want[name] = v
			}
			for name, v := range want {
				if got := counter(s, name); got != v {
					t.Errorf("%s = %d, want %d", name, got, v)
				}
			}
			if got := upstream.Load(); got > tt.maxUpstream {
				t.Errorf("%d requests reached the upstream, want at most %d", got, tt.maxUpstream)
			}
		})
	}
}

// goodClient sends well-formed requests on a connection of its own until
// stopped; every one must succeed.
type goodClient struct {
	t      *testing.T
	cancel context.CancelFunc
	wg     sync.WaitGroup
	served int
}

// keepServing starts a well-behaved client that sends GET /good in a loop
// (at least one request) while the test misbehaves on another connection.
func keepServing(t *testing.T, addr string) *goodClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g := &goodClient{t: t, cancel: cancel}
	client := &http.Client{Timeout: 5 * time.Second}
	first := make(chan struct{})
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer client.CloseIdleConnections()
		for ctx.Err() == nil {
			resp, err := client.Get("http://" + addr + "/good")
			if err != nil {
				t.Errorf("a well-behaved request failed: %v", err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Errorf("a well-behaved request got %d %q", resp.StatusCode, body)
				return
			}
			if g.served++; g.served == 1 {
				close(first)
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	select {
	case <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("the well-behaved client got no answer")
	}
	return g
}

// stop ends the loop and returns how many requests were served.
func (g *goodClient) stop() int {
	g.cancel()
	g.wg.Wait()
	return g.served
}

// gauge reads a gauge by its Envoy name.
func gauge(s *Server, name string) int64 {
	var v int64
	s.Stats().Each(nil, func(g *stats.Gauge) {
		if g.Name == name {
			v = g.Value()
		}
	}, nil)
	return v
}

func TestHTTP2RapidResetThroughTheProxyStaysBounded(t *testing.T) {
	const maxStreams = 16
	var active, peak atomic.Int32
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/good" {
			io.WriteString(w, "ok")
			return
		}
		n := active.Add(1)
		defer active.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	cfg := strings.Replace(httpProxyConfig(`              - match: {prefix: "/"}
                route: {cluster: backend}`, staticCluster("backend", "", be)),
		"          stat_prefix: main\n",
		fmt.Sprintf("          stat_prefix: main\n          http2_protocol_options: {max_concurrent_streams: %d}\n", maxStreams), 1)
	s, addr := startProxy(t, cfg)
	baseline := runtime.NumGoroutine()
	good := keepServing(t, addr)

	// The flood: HEADERS then RST_STREAM at once, stream after stream,
	// on one prior-knowledge h2c connection.
	c, _ := looptest.Dial(t, addr)
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	go func() {
		for {
			if _, err := fr.ReadFrame(); err != nil {
				return // the proxy may close the connection (ENHANCE_YOUR_CALM)
			}
		}
	}()
	var hdr bytes.Buffer
	enc := hpack.NewEncoder(&hdr)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/flood"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	sent := 0
	for id := uint32(1); sent < 5000; id += 2 {
		err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hdr.Bytes(), EndStream: true, EndHeaders: true})
		if err == nil {
			err = fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		if err != nil {
			break // the proxy closed the connection on us: bounded too
		}
		sent++
	}
	c.Close()
	served := good.stop()

	if got := peak.Load(); got > maxStreams {
		t.Errorf("%d flood requests were in flight upstream at once, more than max_concurrent_streams (%d)", got, maxStreams)
	}
	waitFor(t, func() bool {
		return gauge(s, "http.main.downstream_rq_active") == 0 && gauge(s, "cluster.backend.upstream_rq_active") == 0
	})
	waitFor(t, func() bool { return runtime.NumGoroutine() < baseline+50 })
	if served == 0 {
		t.Error("the well-behaved client was not served during the flood")
	}
	t.Logf("sent %d streams; %d reached the upstream, at most %d at once; %d good requests served",
		sent, counter(s, "cluster.backend.upstream_rq_total")-uint64(served), peak.Load(), served)
}
