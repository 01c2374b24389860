package http1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scriptedUpstream answers every request head on a connection with the
// next of responses, written verbatim, and records the heads it read.
func scriptedUpstream(t *testing.T, responses ...string) (net.Addr, chan string) {
	heads := make(chan string, len(responses)+1)
	addr := listen(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for _, r := range responses {
			head, err := readHead(br)
			if err != nil {
				return
			}
			heads <- head
			if _, err := io.WriteString(c, r); err != nil {
				return
			}
		}
		// Hold the connection until the client is done with it.
		io.Copy(io.Discard, br)
	})
	return addr, heads
}

func TestClientRejectsMalformedResponses(t *testing.T) {
	tests := []struct {
		name     string
		response string
		// inBody: the error surfaces reading the body, not from RoundTrip.
		inBody bool
	}{
		{name: "a garbage status line", response: "HTTP/1.1 OK\r\n\r\n"},
		{name: "a status code out of range", response: "HTTP/1.1 999 Nope\r\n\r\n"},
		{name: "an HTTP/2 status line", response: "HTTP/2.0 200 OK\r\n\r\n"},
		{name: "a status line ending in a bare LF", response: "HTTP/1.1 200 OK\n\r\n"},
		{name: "an obs-fold continuation line", response: "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n"},
		{name: "a NUL in a header value", response: "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n"},
		{name: "a space before the colon", response: "HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n"},
		{name: "Content-Length with Transfer-Encoding", response: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{name: "two different Content-Lengths", response: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
		{name: "a negative Content-Length", response: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
		{name: "a transfer coding other than chunked", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
		{name: "an invalid chunk size", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", inBody: true},
		{name: "chunk data without its CRLF", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", inBody: true},
		{name: "a chunk size that overflows", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", inBody: true},
		{name: "headers larger than the limit", response: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run("a response with "+tt.name+" is a protocol error", func(t *testing.T) {
			addr, _ := scriptedUpstream(t, tt.response)
			rel := newReleases()
			cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
			req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://example.test/", nil)
			resp, err := cc.RoundTrip(req)
			if tt.inBody {
				if err != nil {
					t.Fatalf("RoundTrip: %v", err)
				}
				_, err = io.ReadAll(resp.Body)
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want a *ProtocolError", err)
			}
			if rel.wait(t) {
				t.Error("connection released as reusable after a protocol error")
			}
			if n := rel.count(); n != 1 {
				t.Errorf("Release called %d times, want once", n)
			}
			if _, err := cc.RoundTrip(req.Clone(req.Context())); !errors.Is(err, ErrConnUnusable) {
				t.Errorf("RoundTrip after failure = %v, want ErrConnUnusable", err)
			}
		})
	}
}

func TestClientReportsAConnectionClosedBeforeAnyResponse(t *testing.T) {
	addr := listen(t, func(c net.Conn) {
		readHead(bufio.NewReader(c))
	})
	rel := newReleases()
	cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
	req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://example.test/", nil)
	_, err := cc.RoundTrip(req)
	if !errors.Is(err, ErrClosedBeforeResponse) {
		t.Fatalf("error = %v, want ErrClosedBeforeResponse", err)
	}
	if rel.wait(t) {
		t.Error("released as reusable")
	}
}

func TestClientTruncatedBodiesFailTheRead(t *testing.T) {
	tests := []struct {
		name     string
		response string
	}{
		{name: "a Content-Length body cut short", response: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
		{name: "a chunked body cut short", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"},
		{name: "a chunked body without its last chunk", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is an unexpected EOF", func(t *testing.T) {
			addr := listen(t, func(c net.Conn) {
				readHead(bufio.NewReader(c))
				io.WriteString(c, tt.response)
			})
			rel := newReleases()
			cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
			req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://example.test/", nil)
			resp, err := cc.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("body error = %v, want io.ErrUnexpectedEOF", err)
			}
			if rel.wait(t) {
				t.Error("released as reusable")
			}
		})
	}
}

func TestClientSkipsInformationalResponses(t *testing.T) {
	addr, _ := scriptedUpstream(t, "HTTP/1.1 100 Continue\r\n\r\n"+
		"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"+
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	rel := newReleases()
	cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
	var got []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		got = append(got, strconv.Itoa(code)+" "+h.Get("Link"))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(testContext(t), trace), "GET", "http://example.test/", nil)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || readAll(t, resp.Body) != "ok" {
		t.Fatalf("got %d, want the final 200 with its body", resp.StatusCode)
	}
	if want := "100 ,103 </style.css>; rel=preload"; strings.Join(got, ",") != want {
		t.Errorf("1xx seen = %q, want %q", strings.Join(got, ","), want)
	}
	if !rel.wait(t) {
		t.Error("released as not reusable")
	}
}

func TestClientReadsABodyDelimitedByClose(t *testing.T) {
	addr := listen(t, func(c net.Conn) {
		readHead(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil the end")
	})
	rel := newReleases()
	cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
	req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://example.test/", nil)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp.Body); got != "until the end" {
		t.Errorf("body = %q", got)
	}
	if !resp.Close || resp.ContentLength != -1 {
		t.Errorf("Close = %v, ContentLength = %d; want true, -1", resp.Close, resp.ContentLength)
	}
	if rel.wait(t) {
		t.Error("released as reusable")
	}
}

func TestClientContextCancellationAbortsTheExchange(t *testing.T) {
	t.Run("while waiting for the response head", func(t *testing.T) {
		addr, _ := scriptedUpstream(t, "") // reads the head, never answers
		rel := newReleases()
		cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
		ctx, cancel := context.WithCancel(testContext(t))
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://example.test/", nil)
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := cc.RoundTrip(req)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
		if rel.wait(t) {
			t.Error("released as reusable")
		}
	})
	t.Run("while reading the response body", func(t *testing.T) {
		addr, _ := scriptedUpstream(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
		rel := newReleases()
		cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
		ctx, cancel := context.WithCancel(testContext(t))
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://example.test/", nil)
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err = io.ReadAll(resp.Body)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("body error = %v, want context.Canceled", err)
		}
		if rel.wait(t) {
			t.Error("released as reusable")
		}
	})
	t.Run("while the request body is still streaming", func(t *testing.T) {
		addr, _ := scriptedUpstream(t, "")
		rel := newReleases()
		cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
		ctx, cancel := context.WithCancel(testContext(t))
		pr, pw := io.Pipe()
		defer pw.Close()
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://example.test/", pr)
		go pw.Write([]byte("first part"))
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := cc.RoundTrip(req)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
		if rel.wait(t) {
			t.Error("released as reusable")
		}
	})
}

func TestClientClosingTheBodyEarly(t *testing.T) {
	tests := []struct {
		name         string
		length       int
		wantReusable bool
	}{
		{name: "discards a small buffered remainder and keeps the connection", length: 100, wantReusable: true},
		{name: "closes the connection when much is left", length: 1 << 20, wantReusable: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(tt.length) + "\r\n\r\n" + strings.Repeat("z", tt.length)
			addr, _ := scriptedUpstream(t, resp)
			rel := newReleases()
			cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
			req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://example.test/", nil)
			r, err := cc.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 10)
			if _, err := io.ReadFull(r.Body, buf); err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if got := rel.wait(t); got != tt.wantReusable {
				t.Errorf("Release(%v), want Release(%v)", got, tt.wantReusable)
			}
			if _, err := r.Body.Read(buf); err == nil {
				t.Error("Read after Close succeeded")
			}
			if n := rel.count(); n != 1 {
				t.Errorf("Release called %d times, want once", n)
			}
		})
	}
}

// failingBody yields some bytes, then fails, as a downstream that
// disconnects mid-upload does.
type failingBody struct{ sent bool }

var errDownstreamGone = errors.New("downstream gone")

func (b *failingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "some bytes"), nil
	}
	return 0, errDownstreamGone
}

func (b *failingBody) Close() error { return nil }

func TestClientRequestBodyFailureIsTheDownstreamsFault(t *testing.T) {
	addr, _ := scriptedUpstream(t, "")
	rel := newReleases()
	cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
	req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://example.test/", &failingBody{})
	_, err := cc.RoundTrip(req)
	var be *RequestBodyError
	if !errors.As(err, &be) || !errors.Is(err, errDownstreamGone) {
		t.Fatalf("error = %v, want a *RequestBodyError wrapping the body's error", err)
	}
	if rel.wait(t) {
		t.Error("released as reusable")
	}
}

func TestClientEarlyResponseWhileTheRequestIsStillStreaming(t *testing.T) {
	addr, _ := scriptedUpstream(t, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig!")
	rel := newReleases()
	cc := NewClientConn(dial(t, addr), &ClientConfig{Release: rel.release})
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequestWithContext(testContext(t), "POST", "http://example.test/", pr)
	go pw.Write([]byte("the start of a long upload"))
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 413 || readAll(t, resp.Body) != "big!" {
		t.Fatalf("got %d, want the early 413 and its body", resp.StatusCode)
	}
	if rel.wait(t) {
		t.Error("released as reusable while the request was unfinished")
	}
}
