package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// These tests play a misbehaving HTTP/1.1 upstream on raw TCP and check
// how the assembled proxy answers, flags and counts each failure.

func TestUpstreamHTTP1FailuresAreAnsweredAndFlaggedLikeEnvoy(t *testing.T) {
	tests := []struct {
		name string
		// retry is the route's retry_policy, if any; timeout its timeout.
		retry, timeout string
		// answer is what the upstream does with connection n once it has
		// read the request head.
		answer func(n int, c net.Conn)
		// wantCode and wantBody are what the client sees; wantBody "" is
		// not checked. wantBroken: the response must not complete.
		wantCode   int
		wantBody   string
		wantBroken bool
		wantLog    string
		wantConns  int32
		counters   map[string]uint64
	}{
		{
			name:     "a malformed status line is a 502 with UPE",
			answer:   func(_ int, c net.Conn) { io.WriteString(c, "HTTP/1.1 2x0 OK\r\n\r\n") },
			wantCode: 502, wantBody: "upstream connect error or disconnect/reset before headers. reset reason: protocol error",
			wantLog:   "502 UPE upstream_reset_before_response_started{protocol_error}",
			wantConns: 1,
			counters: map[string]uint64{
				"cluster.backend.upstream_cx_protocol_error": 1,
				"cluster.backend.upstream_rq_rx_reset":       0,
				"http.main.downstream_rq_5xx":                1,
			},
		},
		{
			name: "Content-Length with Transfer-Encoding from the upstream is a 502 with UPE",
			answer: func(_ int, c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
			},
			wantCode: 502, wantLog: "502 UPE upstream_reset_before_response_started{protocol_error}", wantConns: 1,
			counters: map[string]uint64{"cluster.backend.upstream_cx_protocol_error": 1},
		},
		{
			name:     "a protocol error is retried on 5xx like a reset",
			retry:    `{retry_on: 5xx, num_retries: 1, retry_back_off: {base_interval: 0.001s}}`,
			answer:   answerBadThenGood,
			wantCode: 200, wantBody: "ok", wantLog: "200 - via_upstream", wantConns: 2,
			counters: map[string]uint64{
				"cluster.backend.upstream_cx_protocol_error": 1,
				"cluster.backend.upstream_rq_retry":          1,
				"cluster.backend.upstream_rq_retry_success":  1,
			},
		},
		{
			name:     "a connection closed before the response is a 503 with UC",
			answer:   func(int, net.Conn) {},
			wantCode: 503, wantBody: "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
			wantLog: "503 UC upstream_reset_before_response_started{connection_termination}", wantConns: 1,
			counters: map[string]uint64{
				"cluster.backend.upstream_rq_rx_reset":       1,
				"cluster.backend.upstream_cx_protocol_error": 0,
			},
		},
		{
			name:  "a connection closed before the response is retried as a reset",
			retry: `{retry_on: reset, num_retries: 1, retry_back_off: {base_interval: 0.001s}}`,
			answer: func(n int, c net.Conn) {
				if n > 1 {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			},
			wantCode: 200, wantBody: "ok", wantLog: "200 - via_upstream", wantConns: 2,
			counters: map[string]uint64{"cluster.backend.upstream_rq_retry": 1},
		},
		{
			name:     "an upstream that never answers is a 504 with UT once the route timeout passes",
			timeout:  "0.2s",
			answer:   func(_ int, c net.Conn) { io.Copy(io.Discard, c) },
			wantCode: 504, wantBody: "upstream request timeout",
			wantLog: "504 UT upstream_response_timeout", wantConns: 1,
			counters: map[string]uint64{
				"cluster.backend.upstream_rq_timeout":  1,
				"cluster.backend.upstream_rq_rx_reset": 0,
			},
		},
		{
			name: "bad chunk framing in the response body resets the stream with UPE",
			answer: func(_ int, c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
			},
			wantCode: 200, wantBroken: true, wantLog: "200 UPE via_upstream", wantConns: 1,
			counters: map[string]uint64{
				"cluster.backend.upstream_cx_protocol_error": 1,
				"cluster.backend.upstream_rq_rx_reset":       1,
			},
		},
		{
			name: "a connection closed in the middle of the response body resets the stream with UC",
			answer: func(_ int, c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
			},
			wantCode: 200, wantBroken: true, wantLog: "200 UC via_upstream", wantConns: 1,
			counters: map[string]uint64{
				"cluster.backend.upstream_rq_rx_reset":       1,
				"cluster.backend.upstream_cx_protocol_error": 0,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conns atomic.Int32
			be := rawBackend(t, func(n int, c net.Conn, br *bufio.Reader) {
				conns.Add(1)
				if _, err := readHead(br); err != nil {
					return
				}
				tt.answer(n, c)
			})
			route := `              - match: {prefix: "/"}
                route: {cluster: backend`
			if tt.retry != "" {
				route += ", retry_policy: " + tt.retry
			}
			if tt.timeout != "" {
				route += ", timeout: " + tt.timeout
			}
			cfg, logPath := withAccessLog(t, httpProxyConfig(route+"}", staticCluster("backend", "", be)))
			s, addr := startProxy(t, cfg)

			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := client.Get("http://" + addr + "/")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			body, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			if tt.wantBroken && readErr == nil {
				t.Errorf("the response body ended cleanly (%q); want it cut short", body)
			}
			if !tt.wantBroken && readErr != nil {
				t.Errorf("reading the body: %v", readErr)
			}
			if got := accessLog(t, s, logPath, 1)[0]; got != tt.wantLog {
				t.Errorf("access log %q, want %q", got, tt.wantLog)
			}
			if got := conns.Load(); got != tt.wantConns {
				t.Errorf("upstream saw %d connections, want %d", got, tt.wantConns)
			}
			for name, want := range tt.counters {
				if got := counter(s, name); got != want {
					t.Errorf("%s = %d, want %d", name, got, want)
				}
			}
		})
	}
}

// answerBadThenGood answers its first connection with a malformed status
// line and later ones properly.
func answerBadThenGood(n int, c net.Conn) {
	if n == 1 {
		io.WriteString(c, "HTTP/1.1 2x0 OK\r\n\r\n")
		return
	}
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
}

func TestAClientLeavingBeforeTheAnswerIsADownstreamDisconnect(t *testing.T) {
	upstreamDone := make(chan error, 1)
	be := rawBackend(t, func(_ int, c net.Conn, br *bufio.Reader) {
		// Until the proxy abandons the request (the head may not even have
		// been sent by then).
		_, err := io.Copy(io.Discard, br)
		upstreamDone <- err
	})
	cfg, logPath := withAccessLog(t, httpProxyConfig(`              - match: {prefix: "/"}
                route: {cluster: backend}`, staticCluster("backend", "", be)))
	s, addr := startProxy(t, cfg)

	c, _ := looptest.Dial(t, addr)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, func() bool { return gauge(s, "cluster.backend.upstream_rq_active") == 1 })
	c.Close()
	receive(t, upstreamDone)
	if got := accessLog(t, s, logPath, 1)[0]; !strings.HasPrefix(got, "0 DC ") {
		t.Errorf("access log %q, want code 0 and flag DC", got)
	}
	for name, want := range map[string]uint64{
		"cluster.backend.upstream_rq_cancelled": 1,
		"cluster.backend.upstream_rq_rx_reset":  0,
		"http.main.downstream_rq_5xx":           0,
	} {
		if got := counter(s, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

func TestAClientLeavingMidBodyIsADownstreamDisconnectNeverRetried(t *testing.T) {
	var conns atomic.Int32
	bodyEnded := make(chan error, 4)
	be := rawBackend(t, func(_ int, c net.Conn, br *bufio.Reader) {
		conns.Add(1)
		_, err := io.Copy(io.Discard, br) // until the proxy gives up on the request
		bodyEnded <- err
	})
	cfg, logPath := withAccessLog(t, httpProxyConfig(`              - match: {prefix: "/"}
                route:
                  cluster: backend
                  retry_policy: {retry_on: "5xx,reset", num_retries: 3, retry_back_off: {base_interval: 0.001s}}`,
		staticCluster("backend", "", be)))
	s, addr := startProxy(t, cfg)

	c, _ := looptest.Dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	waitFor(t, func() bool { return conns.Load() == 1 })
	c.Close()
	receive(t, bodyEnded)

	if got := accessLog(t, s, logPath, 1)[0]; !strings.HasPrefix(got, "0 DC ") {
		t.Errorf("access log %q, want code 0 and flag DC", got)
	}
	for name, want := range map[string]uint64{
		"cluster.backend.upstream_rq_retry":          0,
		"cluster.backend.upstream_rq_rx_reset":       0,
		"cluster.backend.upstream_cx_protocol_error": 0,
		"http.main.downstream_rq_5xx":                0,
		"http.main.downstream_rq_2xx":                0,
	} {
		if got := counter(s, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("upstream saw %d connections, want 1 (no retry)", got)
	}
}
