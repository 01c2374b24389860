package http1

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// miniProxy is the smallest proxy built from both sides of the codec: a
// handler that forwards each request on a pooled upstream ClientConn, as
// the router does, keeping header case.
type miniProxy struct {
	t        testing.TB
	upstream net.Addr
	mu       sync.Mutex
	idle     []*ClientConn
	dials    int
}

func (p *miniProxy) get() *ClientConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		cc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return cc
	}
	p.dials++
	var cc *ClientConn
	cc = NewClientConn(dial(p.t, p.upstream), &ClientConfig{Release: func(reusable bool) {
		if reusable {
			p.mu.Lock()
			p.idle = append(p.idle, cc)
			p.mu.Unlock()
		}
	}})
	return cc
}

func (p *miniProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	resp, err := p.get().RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	SetHeaderCase(w, ResponseHeaderCase(resp))
	for k, vv := range resp.Header {
		w.Header()[k] = vv
	}
	for k := range resp.Trailer {
		w.Header().Add("Trailer", k)
	}
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
		}
		if err != nil {
			break
		}
	}
	for k, vv := range resp.Trailer {
		w.Header()[k] = vv
	}
}

func TestServerAndClientComposeIntoAProxy(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer upstream.Close()
	proxy := &miniProxy{t: t, upstream: upstream.Listener.Addr()}
	ts := serve(t, proxy, &ServerConfig{PreserveCase: true})
	client := ts.client(t)
	big := strings.Repeat("proxied ", 100000)
	tests := []struct {
		name        string
		method      string
		query       string
		body        io.Reader
		expect      bool
		wantBody    string
		wantTrailer string
	}{
		{name: "a GET", method: "GET"},
		{name: "a large body of known length", method: "POST", body: strings.NewReader(big), wantBody: big},
		{name: "a chunked body", method: "POST", body: io.MultiReader(strings.NewReader(big)), wantBody: big},
		{name: "a chunked response with trailers", method: "POST", query: "?chunked=1&trailer=1", body: strings.NewReader("t"), wantBody: "t", wantTrailer: "ok"},
		{name: "a body sent after 100 Continue", method: "PUT", body: strings.NewReader("cont"), expect: true, wantBody: "cont"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" passes through", func(t *testing.T) {
			req, _ := http.NewRequestWithContext(testContext(t), tt.method, "http://svc.test/"+tt.query, tt.body)
			if tt.expect {
				req.Header.Set("Expect", "100-continue")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, resp.Body); got != tt.wantBody {
				t.Errorf("body of %d bytes, want %d", len(got), len(tt.wantBody))
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
			if got := resp.Trailer.Get("X-Result"); got != tt.wantTrailer {
				t.Errorf("trailer %q, want %q", got, tt.wantTrailer)
			}
		})
	}
	if proxy.dials != 1 {
		t.Errorf("the proxy dialled the upstream %d times, want once (connection reuse)", proxy.dials)
	}
}
