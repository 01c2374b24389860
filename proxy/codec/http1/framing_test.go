package http1

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestServerResponseFraming(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		handler http.HandlerFunc
		want    string // the exact response, head and body
	}{
		{
			name: "a handler that writes nothing gets Content-Length: 0", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) {},
			want:    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "a flushed response is chunked", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("abc"))
				w.(http.Flusher).Flush()
				w.Write([]byte("de"))
			},
			want: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
		},
		{
			name: "a Transfer-Encoding set by the handler is the codec's to decide", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Transfer-Encoding", "gzip")
				w.Write([]byte("abc"))
			},
			want: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		},
		{
			name: "a HEAD response keeps the handler's Content-Length and sends no body", method: "HEAD",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "42")
				w.Write([]byte("discarded"))
			},
			want: "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n",
		},
		{
			name: "a 204 response drops Content-Length and any body", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "3")
				w.WriteHeader(http.StatusNoContent)
				if _, err := w.Write([]byte("abc")); !errors.Is(err, http.ErrBodyNotAllowed) {
					panic("Write on a 204 did not fail")
				}
			},
			want: "HTTP/1.1 204 No Content\r\n\r\n",
		},
		{
			name: "a 304 response keeps Content-Length and sends no body", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "3")
				w.Header().Set("Etag", `"x"`)
				w.WriteHeader(http.StatusNotModified)
			},
			want: "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\nEtag: \"x\"\r\n\r\n",
		},
		{
			name: "a write past the declared length fails", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "2")
				if _, err := w.Write([]byte("abc")); !errors.Is(err, http.ErrContentLength) {
					panic("a write past Content-Length did not fail")
				}
				w.Write([]byte("ab"))
			},
			want: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab",
		},
		{
			name: "header fields a filter broke are dropped, not written", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Bad", "a\r\nX-Injected: 1")
				w.Header()["Bad Name"] = []string{"1"}
				w.Header().Set("X-Good", "1")
			},
			want: "HTTP/1.1 200 OK\r\nX-Good: 1\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "an unregistered status code gets an empty reason", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(599) },
			want:    "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := serve(t, tt.handler, nil)
			rc := ts.dial(t)
			io.WriteString(rc, tt.method+" / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
			got, err := io.ReadAll(rc.br)
			if err != nil {
				t.Fatal(err)
			}
			if want := withClose(tt.want); string(got) != want {
				t.Errorf("response\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// withClose adds "Connection: close" where the codec writes it: after the
// handler's fields, before the framing fields.
func withClose(resp string) string {
	head, body, _ := strings.Cut(resp, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	var fields, framing []string
	for _, l := range lines[1:] {
		switch {
		case strings.HasPrefix(l, "Connection:"):
		case strings.HasPrefix(l, "Content-Length:"), strings.HasPrefix(l, "Transfer-Encoding:"):
			framing = append(framing, l)
		default:
			fields = append(fields, l)
		}
	}
	out := append([]string{lines[0]}, fields...)
	out = append(out, "Connection: close")
	out = append(out, framing...)
	return strings.Join(out, "\r\n") + "\r\n\r\n" + body
}

func TestServerKeepsTheConnectionAfterAnUnreadBody(t *testing.T) {
	tests := []struct {
		name     string
		body     int
		wantKept bool
	}{
		{name: "a small unread body is drained and the connection kept", body: 1000, wantKept: true},
		{name: "a large unread body closes the connection", body: 1 << 20, wantKept: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("unread"))
			}), nil)
			rc := ts.dial(t)
			go io.WriteString(rc, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "+strconv.Itoa(tt.body)+"\r\n\r\n"+
				strings.Repeat("x", tt.body)+"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
			resp, _ := readResponse(t, rc.br, "POST")
			if resp.Close == tt.wantKept {
				t.Errorf("Close = %v, want %v", resp.Close, !tt.wantKept)
			}
			if tt.wantKept {
				if resp, _ := readResponse(t, rc.br, "GET"); resp.StatusCode != 200 {
					t.Errorf("next request: %d", resp.StatusCode)
				}
			}
		})
	}
}

func TestClientRequestFraming(t *testing.T) {
	tests := []struct {
		name   string
		method string
		body   io.Reader
		length int64
		want   string // the head's framing fields
	}{
		{name: "a GET without a body has no framing fields", method: "GET", want: ""},
		{name: "a POST without a body says Content-Length: 0", method: "POST", want: "Content-Length: 0\r\n"},
		{name: "a known length is sent as Content-Length", method: "PUT", body: strings.NewReader("abc"), length: 3, want: "Content-Length: 3\r\n"},
		{name: "an unknown length is sent chunked", method: "POST", body: strings.NewReader("abc"), length: -1, want: "Transfer-Encoding: chunked\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, heads := scriptedUpstream(t, "HTTP/1.1 204 No Content\r\n\r\n")
			cc := NewClientConn(dial(t, addr), nil)
			req, _ := http.NewRequestWithContext(testContext(t), tt.method, "http://h.test/", nil)
			if tt.body != nil {
				req.Body = io.NopCloser(tt.body)
				req.ContentLength = tt.length
			}
			if _, err := cc.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			want := tt.method + " / HTTP/1.1\r\nHost: h.test\r\n" + tt.want + "\r\n"
			if head := <-heads; head != want {
				t.Errorf("head %q, want %q", head, want)
			}
		})
	}
}
