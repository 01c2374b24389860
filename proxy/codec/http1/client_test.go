package http1

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoHandler reports what the server saw in X-Seen-* headers and echoes
// the request body; query parameters shape the response.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	h := w.Header()
	h.Set("X-Seen-Method", r.Method)
	h.Set("X-Seen-Expect", r.Header.Get("Expect"))
	h.Set("X-Seen-Length", strconv.FormatInt(r.ContentLength, 10))
	h.Set("X-Seen-Te", strings.Join(r.TransferEncoding, ","))
	h.Set("X-Seen-Trailer", r.Trailer.Get("X-Checksum"))
	if q.Get("trailer") != "" {
		h.Set("Trailer", "X-Result")
	}
	if q.Get("close") != "" {
		h.Set("Connection", "close")
	}
	status := http.StatusOK
	if s := q.Get("status"); s != "" {
		status, _ = strconv.Atoi(s)
	}
	w.WriteHeader(status)
	if q.Get("chunked") != "" {
		w.(http.Flusher).Flush()
	}
	w.Write(body)
	if q.Get("trailer") != "" {
		h.Set("X-Result", "ok")
	}
}

func TestClientRoundTripAgainstNetHTTPServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	addr := srv.Listener.Addr()

	tests := []struct {
		name         string
		method       string
		path         string
		body         string
		unknownLen   bool
		reqTrailer   string
		header       http.Header
		wantStatus   int
		wantBody     string
		wantReusable bool
		wantSeen     map[string]string
		wantTrailer  string
	}{
		{
			name:   "a GET without a body is answered and the connection stays reusable",
			method: "GET", path: "/", wantStatus: 200, wantReusable: true,
			wantSeen: map[string]string{"X-Seen-Method": "GET", "X-Seen-Length": "0"},
		},
		{
			name:   "a POST of known length sends Content-Length and its body",
			method: "POST", path: "/", body: "hello world", wantStatus: 200,
			wantBody: "hello world", wantReusable: true,
			wantSeen: map[string]string{"X-Seen-Length": "11", "X-Seen-Te": ""},
		},
		{
			name:   "a POST of unknown length is sent chunked with its trailers",
			method: "POST", path: "/", body: strings.Repeat("abc", 10000), unknownLen: true,
			reqTrailer: "sum", wantStatus: 200, wantBody: strings.Repeat("abc", 10000), wantReusable: true,
			wantSeen: map[string]string{"X-Seen-Length": "-1", "X-Seen-Te": "chunked", "X-Seen-Trailer": "sum"},
		},
		{
			name:   "a chunked response is read with its trailers",
			method: "POST", path: "/?chunked=1&trailer=1", body: "streamed", wantStatus: 200,
			wantBody: "streamed", wantReusable: true, wantTrailer: "ok",
		},
		{
			name:   "a HEAD response has no body even with a Content-Length",
			method: "HEAD", path: "/", wantStatus: 200, wantReusable: true,
		},
		{
			name:   "a 204 response has no body",
			method: "GET", path: "/?status=204", wantStatus: 204, wantReusable: true,
		},
		{
			name:   "a response with Connection: close leaves the connection not reusable",
			method: "GET", path: "/?close=1", wantStatus: 200, wantReusable: false,
		},
		{
			name:   "an Expect: 100-continue header is not forwarded",
			method: "PUT", path: "/", body: "data", header: http.Header{"Expect": {"100-continue"}},
			wantStatus: 200, wantBody: "data", wantReusable: true,
			wantSeen: map[string]string{"X-Seen-Expect": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel := newReleases()
			cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
			req, err := http.NewRequestWithContext(testContext(t), tt.method, "http://"+addr.String()+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, vv := range tt.header {
				req.Header[k] = vv
			}
			if tt.body != "" {
				req.Body = io.NopCloser(strings.NewReader(tt.body))
				req.ContentLength = int64(len(tt.body))
				if tt.unknownLen {
					req.ContentLength = -1
				}
			}
			if tt.reqTrailer != "" {
				req.Trailer = http.Header{"X-Checksum": nil}
				req.Body = &trailerSetter{r: req.Body, set: func() { req.Trailer.Set("X-Checksum", tt.reqTrailer) }}
			}
			resp, err := cc.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := readAll(t, resp.Body); got != tt.wantBody {
				t.Errorf("body = %.40q (%d bytes), want %.40q", got, len(got), tt.wantBody)
			}
			resp.Body.Close()
			for k, v := range tt.wantSeen {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if got := resp.Trailer.Get("X-Result"); got != tt.wantTrailer {
				t.Errorf("trailer X-Result = %q, want %q", got, tt.wantTrailer)
			}
			if got := rel.wait(t); got != tt.wantReusable {
				t.Errorf("Release(%v), want Release(%v)", got, tt.wantReusable)
			}
			if n := rel.count(); n != 1 {
				t.Errorf("Release called %d times, want once", n)
			}
		})
	}
}

// trailerSetter sets request trailers when its body reaches EOF, as a
// proxied body would after reading the downstream's trailers.
type trailerSetter struct {
	r   io.ReadCloser
	set func()
}

func (s *trailerSetter) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.set()
	}
	return n, err
}

func (s *trailerSetter) Close() error { return s.r.Close() }

func TestClientReusesOneConnectionForSequentialRequests(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	rel := newReleases()
	cc := NewClientConn(dial(t, srv.Listener.Addr()), &ClientConfig{Release: rel.release})
	for i := range 5 {
		body := strings.Repeat("x", i*1000)
		req, _ := http.NewRequestWithContext(testContext(t), "POST", srv.URL+"/", strings.NewReader(body))
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := readAll(t, resp.Body); got != body {
			t.Fatalf("request %d: body of %d bytes, want %d", i, len(got), len(body))
		}
		if !rel.wait(t) {
			t.Fatalf("request %d: connection released as not reusable", i)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
}

func TestClientWritesHeaderNamesInTheRecordedCase(t *testing.T) {
	addr, heads := scriptedUpstream(t, "HTTP/1.1 200 OK\r\ncontent-LENGTH: 0\r\nx-upstream-ID: 7\r\nServer: s\r\n\r\n")
	cc := NewClientConn(dial(t, addr), &ClientConfig{PreserveCase: true})
	hc := HeaderCase{"X-Custom": "x-CUSTOM", "Host": "HOST", "X-Wrong": "X-Other"}
	req, _ := http.NewRequestWithContext(WithHeaderCase(testContext(t), hc), "GET", "http://example.test/a?b=c", nil)
	req.Header.Set("X-Custom", "1")
	req.Header.Set("X-Wrong", "2")
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp.Body)
	head := <-heads
	want := "GET /a?b=c HTTP/1.1\r\nHOST: example.test\r\nx-CUSTOM: 1\r\nX-Wrong: 2\r\n\r\n"
	if head != want {
		t.Errorf("request head =\n%q\nwant\n%q", head, want)
	}
	got := ResponseHeaderCase(resp)
	wantCase := HeaderCase{"Content-Length": "content-LENGTH", "X-Upstream-Id": "x-upstream-ID"}
	if len(got) != len(wantCase) {
		t.Fatalf("response header case = %v, want %v", got, wantCase)
	}
	for k, v := range wantCase {
		if got[k] != v {
			t.Errorf("response header case[%s] = %q, want %q", k, got[k], v)
		}
	}
}

func TestClientRequestTargetForms(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		url      string
		absolute bool
		want     string
	}{
		{name: "origin-form by default", method: "GET", url: "http://h.test/p%20q?x=1", want: "GET /p%20q?x=1 HTTP/1.1\r\n"},
		{name: "an empty path becomes /", method: "GET", url: "http://h.test", want: "GET / HTTP/1.1\r\n"},
		{name: "absolute-form when asked", method: "GET", url: "http://h.test/p?x=1", absolute: true, want: "GET http://h.test/p?x=1 HTTP/1.1\r\n"},
		{name: "authority-form for CONNECT", method: "CONNECT", url: "http://h.test:443", want: "CONNECT h.test:443 HTTP/1.1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, heads := scriptedUpstream(t, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			cc := NewClientConn(dial(t, addr), &ClientConfig{AbsoluteForm: tt.absolute})
			req, _ := http.NewRequestWithContext(testContext(t), tt.method, tt.url, nil)
			if _, err := cc.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			if head := <-heads; !strings.HasPrefix(head, tt.want) {
				t.Errorf("request line = %q, want %q", strings.SplitAfter(head, "\n")[0], tt.want)
			}
		})
	}
}

func TestClientRefusesRequestsThatWouldSplitTheHead(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *http.Request)
	}{
		{name: "a CRLF in a header value", setup: func(r *http.Request) { r.Header.Set("X-A", "1\r\nX-Injected: 1") }},
		{name: "a space in a header name", setup: func(r *http.Request) { r.Header["X A"] = []string{"1"} }},
		{name: "a space in the Host", setup: func(r *http.Request) { r.Host = "a b" }},
		{name: "a method that is not a token", setup: func(r *http.Request) { r.Method = "GET /x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused before anything is sent", func(t *testing.T) {
			addr, heads := scriptedUpstream(t, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			rel := newReleases()
			cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
			req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://h.test/", nil)
			tt.setup(req)
			if _, err := cc.RoundTrip(req); err == nil {
				t.Fatal("RoundTrip succeeded")
			}
			rel.wait(t)
			select {
			case h := <-heads:
				t.Errorf("upstream received %q", h)
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}

func TestClientHijacksAfterSwitchingProtocols(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", 400)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello ")
		brw.Flush()
		io.Copy(c, brw)
	}))
	defer srv.Close()
	rel := newReleases()
	cc := NewClientConn(dial(t, srv.Listener.Addr()), &ClientConfig{Release: rel.release})
	req, _ := http.NewRequestWithContext(testContext(t), "GET", srv.URL+"/ws", nil)
	req.Header.Set("Upgrade", "echo")
	req.Header.Set("Connection", "Upgrade")
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	conn, br := cc.Hijack()
	if conn == nil {
		t.Fatal("Hijack returned no connection after 101")
	}
	defer conn.Close()
	if rel.wait(t) {
		t.Error("released as reusable after hijack")
	}
	io.WriteString(conn, "world")
	got := make([]byte, len("hello world"))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello world" {
		t.Errorf("echo = %q, want %q", got, "hello world")
	}
	if c, _ := cc.Hijack(); c != nil {
		t.Error("a second Hijack returned the connection again")
	}
}
