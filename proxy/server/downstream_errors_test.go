package server

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// A request body whose chunked framing breaks after the proxy has started
// forwarding it is the client's fault: Envoy answers 400 with DPE, or
// resets the stream when the response has already started.

func TestBadChunkFramingMidBodyIsA400WithDPE(t *testing.T) {
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "read it all")
	})
	cfg, logPath := withAccessLog(t, httpProxyConfig(`              - match: {prefix: "/"}
                route:
                  cluster: backend
                  retry_policy: {retry_on: "5xx,reset", num_retries: 2, retry_back_off: {base_interval: 0.001s}}`,
		staticCluster("backend", "", be)))
	s, addr := startProxy(t, cfg)

	c, br := looptest.Dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || string(body) != "Bad Request" {
		t.Errorf("got %d %q, want 400 \"Bad Request\"", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Errorf("the 400 does not close the connection")
	}
	if n, err := br.Read(make([]byte, 1)); err == nil {
		t.Errorf("the connection stays open after the 400 (read %d bytes)", n)
	}
	if got := accessLog(t, s, logPath, 1)[0]; got != "400 DPE http1.invalid_chunk" {
		t.Errorf("access log %q, want \"400 DPE http1.invalid_chunk\"", got)
	}
	for name, want := range map[string]uint64{
		"http.main.downstream_rq_total":        1,
		"http.main.downstream_rq_4xx":          1,
		"http.main.downstream_rq_2xx":          0,
		"cluster.backend.upstream_rq_retry":    0,
		"cluster.backend.upstream_rq_rx_reset": 0,
		"cluster.backend.upstream_rq_tx_reset": 1,
	} {
		if got := counter(s, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

func TestBadChunkFramingAfterTheResponseStartedResetsTheStream(t *testing.T) {
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		w.WriteHeader(200)
		io.WriteString(w, "streaming")
		w.(http.Flusher).Flush()
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "and done")
	})
	cfg, logPath := withAccessLog(t, httpProxyConfig(`              - match: {prefix: "/"}
                route: {cluster: backend}`,
		staticCluster("backend", "", be)))
	s, addr := startProxy(t, cfg)

	c, br := looptest.Dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response head: %v", err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	first := make([]byte, len("streaming"))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("reading the first bytes: %v", err)
	}
	io.WriteString(c, "zz\r\n")
	rest, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("the response ended cleanly with %q; want it reset", rest)
	}
	if strings.Contains(string(rest), "and done") {
		t.Errorf("the response was finished after the request broke")
	}
	if got := accessLog(t, s, logPath, 1)[0]; got != "200 DPE http1.invalid_chunk" {
		t.Errorf("access log %q, want \"200 DPE http1.invalid_chunk\"", got)
	}
	if got := counter(s, "cluster.backend.upstream_rq_rx_reset"); got != 0 {
		t.Errorf("upstream_rq_rx_reset = %d, want 0: the upstream did nothing wrong", got)
	}
}
