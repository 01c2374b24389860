package http1

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
)

// shapeHandler echoes the request body and reports what it saw; query
// parameters shape the response, as echoHandler does for the client tests.
func shapeHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the codec answers framing errors itself
	}
	q := r.URL.Query()
	h := w.Header()
	h.Set("X-Seen-Length", strconv.FormatInt(r.ContentLength, 10))
	h.Set("X-Seen-Te", strings.Join(r.TransferEncoding, ","))
	h.Set("X-Seen-Trailer", r.Trailer.Get("X-Checksum"))
	h.Set("X-Seen-Expect", r.Header.Get("Expect"))
	if q.Get("length") != "" {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	if q.Get("declared") != "" {
		h.Set("Trailer", "X-Declared")
	}
	status := http.StatusOK
	if s := q.Get("status"); s != "" {
		status, _ = strconv.Atoi(s)
	}
	w.WriteHeader(status)
	if q.Get("flush") != "" {
		w.(http.Flusher).Flush()
	}
	w.Write(body)
	if q.Get("declared") != "" {
		h.Set("X-Declared", "d")
	}
	if q.Get("prefixed") != "" {
		h.Set(http.TrailerPrefix+"X-Prefixed", "p")
	}
}

func TestServerAgainstNetHTTPClient(t *testing.T) {
	ts := serve(t, http.HandlerFunc(shapeHandler), nil)
	client := ts.client(t)
	big := strings.Repeat("0123456789", 20000)
	tests := []struct {
		name        string
		method      string
		query       string
		body        string
		unknownLen  bool
		reqTrailer  string
		wantStatus  int
		wantBody    string
		wantLength  int64 // resp.ContentLength
		wantTE      string
		wantSeen    map[string]string
		wantTrailer map[string]string
	}{
		{
			name:   "a GET with no body gets Content-Length: 0 when the handler writes nothing",
			method: "GET", wantStatus: 200, wantLength: 0,
			wantSeen: map[string]string{"X-Seen-Length": "0"},
		},
		{
			name:   "a POST body of known length is streamed to the handler",
			method: "POST", body: big, wantStatus: 200, wantBody: big, wantLength: -1, wantTE: "chunked",
			wantSeen: map[string]string{"X-Seen-Length": strconv.Itoa(len(big)), "X-Seen-Te": ""},
		},
		{
			name:   "a chunked request body arrives with its trailers",
			method: "POST", body: big, unknownLen: true, reqTrailer: "abc", wantStatus: 200,
			wantBody: big, wantLength: -1, wantTE: "chunked",
			wantSeen: map[string]string{"X-Seen-Length": "-1", "X-Seen-Te": "chunked", "X-Seen-Trailer": "abc"},
		},
		{
			name:   "a Content-Length set by the handler frames the response",
			method: "POST", query: "length=1", body: "sized", wantStatus: 200, wantBody: "sized", wantLength: 5,
		},
		{
			name:   "declared and prefixed trailers follow a chunked response",
			method: "POST", query: "declared=1&prefixed=1&flush=1", body: "t", wantStatus: 200,
			wantBody: "t", wantLength: -1, wantTE: "chunked",
			wantTrailer: map[string]string{"X-Declared": "d", "X-Prefixed": "p"},
		},
		{
			name:   "a HEAD response carries no body",
			method: "HEAD", query: "length=1", wantStatus: 200, wantLength: 0,
		},
		{
			name:   "a 204 response carries no body",
			method: "POST", query: "status=204", body: "ignored", wantStatus: 204, wantLength: 0,
		},
		{
			name:   "a 304 response carries no body",
			method: "GET", query: "status=304", wantStatus: 304, wantLength: 0,
		},
		{
			name:   "Expect: 100-continue is answered by the codec and not shown to the handler",
			method: "PUT", body: "continue", wantStatus: 200, wantBody: "continue", wantLength: 8,
			wantSeen: map[string]string{"X-Seen-Expect": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
				if tt.unknownLen {
					body = io.MultiReader(body)
				}
			}
			req, err := http.NewRequestWithContext(testContext(t), tt.method, "http://outrider.test/?"+tt.query, body)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(tt.name, "Expect") {
				req.Header.Set("Expect", "100-continue")
			}
			if tt.reqTrailer != "" {
				req.Trailer = http.Header{"X-Checksum": {tt.reqTrailer}}
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got != tt.wantBody {
				t.Errorf("body of %d bytes, want %d", len(got), len(tt.wantBody))
			}
			if resp.ContentLength != tt.wantLength {
				t.Errorf("ContentLength = %d, want %d", resp.ContentLength, tt.wantLength)
			}
			if te := strings.Join(resp.TransferEncoding, ","); te != tt.wantTE {
				t.Errorf("TransferEncoding = %q, want %q", te, tt.wantTE)
			}
			for k, v := range tt.wantSeen {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for k, v := range tt.wantTrailer {
				if got := resp.Trailer.Get(k); got != v {
					t.Errorf("trailer %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestServerKeepsConnectionsAliveForNetHTTPClients(t *testing.T) {
	ts := serve(t, http.HandlerFunc(shapeHandler), nil)
	client := ts.client(t)
	var reused int
	for i := range 10 {
		trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
			if ci.Reused {
				reused++
			}
		}}
		body := strings.Repeat("b", i*3000)
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(testContext(t), trace),
			"POST", "http://outrider.test/", strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp.Body); got != body {
			t.Fatalf("request %d: body of %d bytes, want %d", i, len(got), len(body))
		}
		resp.Body.Close()
	}
	if reused != 9 {
		t.Errorf("%d of 9 follow-up requests reused the connection", reused)
	}
}

func TestServerStreamsLargeBodiesBothWays(t *testing.T) {
	ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.New()
		n, err := io.Copy(sum, r.Body)
		if err != nil {
			return
		}
		w.Header().Set("X-Sum", hex.EncodeToString(sum.Sum(nil)))
		// Stream back as much as was received, in small flushes.
		chunk := []byte(strings.Repeat("r", 1000))
		for sent := int64(0); sent < n; sent += int64(len(chunk)) {
			w.Write(chunk)
			w.(http.Flusher).Flush()
		}
	}), nil)
	payload := strings.Repeat("payload!", 1<<17) // 1 MiB
	want := sha256.Sum256([]byte(payload))
	req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://outrider.test/", io.MultiReader(strings.NewReader(payload)))
	resp, err := ts.client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("X-Sum"); got != hex.EncodeToString(want[:]) {
		t.Errorf("server saw a different body")
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n < int64(len(payload)) {
		t.Errorf("streamed back %d bytes (err %v), want at least %d", n, err, len(payload))
	}
}

func TestServerBuildsTheRequest(t *testing.T) {
	type ctxKey struct{}
	got := make(chan *http.Request, 1)
	ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		got <- r
	}), &ServerConfig{ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, ctxKey{}, "conn")
	}})
	c := dial(t, ts.addr)
	io.WriteString(c, "POST /a/b%20c?x=1&y=2 HTTP/1.1\r\nHost: svc.test:8080\r\nx-multi: 1\r\nX-Multi: 2\r\n"+
		"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 9\r\n\r\n")
	r := <-got
	checks := []struct {
		name      string
		got, want any
	}{
		{"Method", r.Method, "POST"},
		{"URL.Path", r.URL.Path, "/a/b c"},
		{"URL.RawQuery", r.URL.RawQuery, "x=1&y=2"},
		{"RequestURI", r.RequestURI, "/a/b%20c?x=1&y=2"},
		{"Proto", r.Proto, "HTTP/1.1"},
		{"ProtoMinor", r.ProtoMinor, 1},
		{"Host", r.Host, "svc.test:8080"},
		{"Header[Host]", r.Header.Get("Host"), ""},
		{"Header[X-Multi]", strings.Join(r.Header["X-Multi"], ","), "1,2"},
		{"Header[Transfer-Encoding]", r.Header.Get("Transfer-Encoding"), ""},
		{"ContentLength", r.ContentLength, int64(-1)},
		{"TransferEncoding", strings.Join(r.TransferEncoding, ","), "chunked"},
		{"Trailer", r.Trailer.Get("X-Checksum"), "9"},
		{"RemoteAddr", r.RemoteAddr, c.LocalAddr().String()},
		{"ConnContext value", r.Context().Value(ctxKey{}), "conn"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestServerRequestTargetForms(t *testing.T) {
	tests := []struct {
		name       string
		line       string
		host       string
		wantURL    string
		wantHost   string
		wantURI    string
		wantMethod string
	}{
		{name: "origin-form", line: "GET /p?q=1 HTTP/1.1", host: "a.test", wantURL: "/p?q=1", wantHost: "a.test", wantURI: "/p?q=1", wantMethod: "GET"},
		{name: "origin-form with an empty query", line: "GET /p? HTTP/1.1", host: "a.test", wantURL: "/p?", wantHost: "a.test", wantURI: "/p?", wantMethod: "GET"},
		{name: "absolute-form, whose authority wins over Host", line: "GET http://b.test:8080/p HTTP/1.1", host: "a.test", wantURL: "http://b.test:8080/p", wantHost: "b.test:8080", wantURI: "http://b.test:8080/p", wantMethod: "GET"},
		{name: "asterisk-form for OPTIONS", line: "OPTIONS * HTTP/1.1", host: "a.test", wantURL: "*", wantHost: "a.test", wantURI: "*", wantMethod: "OPTIONS"},
		{name: "authority-form for CONNECT", line: "CONNECT b.test:443 HTTP/1.1", host: "b.test:443", wantURL: "//b.test:443", wantHost: "b.test:443", wantURI: "b.test:443", wantMethod: "CONNECT"},
		{name: "an extension method", line: "PURGE /cache HTTP/1.1", host: "a.test", wantURL: "/cache", wantHost: "a.test", wantURI: "/cache", wantMethod: "PURGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan *http.Request, 1)
			ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r }), nil)
			rc := ts.dial(t)
			io.WriteString(rc, tt.line+"\r\nHost: "+tt.host+"\r\n\r\n")
			r := <-got
			if r.URL.String() != tt.wantURL || r.Host != tt.wantHost || r.RequestURI != tt.wantURI || r.Method != tt.wantMethod {
				t.Errorf("URL %q Host %q RequestURI %q Method %q; want %q %q %q %q",
					r.URL, r.Host, r.RequestURI, r.Method, tt.wantURL, tt.wantHost, tt.wantURI, tt.wantMethod)
			}
		})
	}
}
