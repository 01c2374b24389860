package http1

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// bodyErrors records the error a handler got reading the request body.
func readingHandler(errs chan<- error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if errs != nil {
			errs <- err
		}
		if err != nil {
			return // the codec answers framing errors itself
		}
		w.Write([]byte("ok"))
	}
}

func TestServerRejectsBadInputAndCloses(t *testing.T) {
	const host = "Host: a.test\r\n"
	tests := []struct {
		name   string
		input  string
		status int
		http10 bool // serve with AcceptHTTP10
	}{
		// Request line.
		{name: "a request line without a version", input: "GET /\r\n\r\n", status: 400},
		{name: "a request line with two spaces", input: "GET  / HTTP/1.1\r\n" + host + "\r\n", status: 400},
		{name: "a request line with a space in the target", input: "GET /a b HTTP/1.1\r\n" + host + "\r\n", status: 400},
		{name: "a method that is not a token", input: "G(T / HTTP/1.1\r\n" + host + "\r\n", status: 400},
		{name: "an unknown HTTP version", input: "GET / HTTP/3.0\r\n" + host + "\r\n", status: 400},
		{name: "a lower-case protocol name", input: "GET / http/1.1\r\n" + host + "\r\n", status: 400},
		{name: "the HTTP/2 connection preface", input: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 400},
		{name: "a control byte in the target", input: "GET /a\x01b HTTP/1.1\r\n" + host + "\r\n", status: 400},
		{name: "a fragment in the target", input: "GET /a#frag HTTP/1.1\r\n" + host + "\r\n", status: 400},
		{name: "a target that is no URI form", input: "GET a/b HTTP/1.1\r\n" + host + "\r\n", status: 400},
		{name: "an asterisk target on GET", input: "GET * HTTP/1.1\r\n" + host + "\r\n", status: 400},
		{name: "an authority target on GET", input: "GET a.test:80 HTTP/1.1\r\n" + host + "\r\n", status: 400},
		{name: "a request line ending in a bare LF", input: "GET / HTTP/1.1\n" + host + "\r\n", status: 400},
		// Header fields.
		{name: "an obs-fold continuation line", input: "GET / HTTP/1.1\r\n" + host + "X-A: 1\r\n 2\r\n\r\n", status: 400},
		{name: "a header line starting with a tab", input: "GET / HTTP/1.1\r\n\tX-A: 1\r\n" + host + "\r\n", status: 400},
		{name: "a space before the colon", input: "GET / HTTP/1.1\r\n" + host + "X-A : 1\r\n\r\n", status: 400},
		{name: "a header line without a colon", input: "GET / HTTP/1.1\r\n" + host + "X-A\r\n\r\n", status: 400},
		{name: "an empty header name", input: "GET / HTTP/1.1\r\n" + host + ": 1\r\n\r\n", status: 400},
		{name: "a NUL in a header value", input: "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", status: 400},
		{name: "a bare CR in a header value", input: "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", status: 400},
		{name: "a header line ending in a bare LF", input: "GET / HTTP/1.1\r\n" + host + "X-A: 1\n\r\n", status: 400},
		{name: "a control byte in a header name", input: "GET / HTTP/1.1\r\n" + host + "X\x01A: 1\r\n\r\n", status: 400},
		{name: "headers over 60 KiB", input: "GET / HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 61<<10) + "\r\n\r\n", status: 431},
		{name: "a target over 60 KiB", input: "GET /" + strings.Repeat("a", 61<<10) + " HTTP/1.1\r\n" + host + "\r\n", status: 431},
		{name: "more than 100 header fields", input: "GET / HTTP/1.1\r\n" + host + strings.Repeat("X-A: 1\r\n", 100) + "\r\n", status: 431},
		// Host.
		{name: "HTTP/1.1 without Host", input: "GET / HTTP/1.1\r\n\r\n", status: 400},
		{name: "two Host fields", input: "GET / HTTP/1.1\r\n" + host + host + "\r\n", status: 400},
		{name: "a Host with a slash", input: "GET / HTTP/1.1\r\nHost: a.test/b\r\n\r\n", status: 400},
		// Versions.
		{name: "HTTP/1.0 when it is not accepted", input: "GET / HTTP/1.0\r\n\r\n", status: 426},
		// Framing.
		{name: "Content-Length with Transfer-Encoding", input: "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "two different Content-Lengths", input: "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", status: 400},
		{name: "two equal Content-Lengths", input: "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", status: 400},
		{name: "a Content-Length list", input: "POST / HTTP/1.1\r\n" + host + "Content-Length: 3, 3\r\n\r\nabc", status: 400},
		{name: "a signed Content-Length", input: "POST / HTTP/1.1\r\n" + host + "Content-Length: +3\r\n\r\nabc", status: 400},
		{name: "a negative Content-Length", input: "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", status: 400},
		{name: "a hex Content-Length", input: "POST / HTTP/1.1\r\n" + host + "Content-Length: 0x3\r\n\r\nabc", status: 400},
		{name: "an overflowing Content-Length", input: "POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999\r\n\r\n", status: 400},
		{name: "an empty Content-Length", input: "POST / HTTP/1.1\r\n" + host + "Content-Length:\r\n\r\n", status: 400},
		{name: "a gzip transfer coding", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", status: 501},
		{name: "chunked not last", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, gzip\r\n\r\n", status: 501},
		{name: "chunked after another coding", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: 501},
		{name: "chunked twice", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 501},
		{name: "Transfer-Encoding in HTTP/1.0", input: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, http10: true},
		{name: "a CONNECT with a body", input: "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\nContent-Length: 3\r\n\r\nabc", status: 400},
		// Chunked bodies (found while the handler reads).
		{name: "an invalid chunk size", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nxyz\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "a negative chunk size", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "a chunk size with a space inside", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n1 0\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "an overflowing chunk size", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc\r\n", status: 400},
		{name: "chunk data longer than its size", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", status: 400},
		{name: "a chunk size line ending in a bare LF", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", status: 400},
		{name: "a control byte in a chunk extension", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "an obs-fold in the trailers", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n 2\r\n\r\n", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is answered "+http.StatusText(tt.status), func(t *testing.T) {
			ts := serve(t, readingHandler(nil), &ServerConfig{AcceptHTTP10: tt.http10})
			resp, _, rc := ts.exchange(t, "GET", tt.input)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if !resp.Close {
				t.Error("response does not say Connection: close")
			}
			if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
				t.Errorf("Date %q: %v", resp.Header.Get("Date"), err)
			}
			assertClosed(t, rc)
			select {
			case got := <-ts.rejected:
				if got != tt.status {
					t.Errorf("OnProtocolError(%d), want %d", got, tt.status)
				}
			case <-time.After(testTimeout):
				t.Error("OnProtocolError not called")
			}
			var pe *ProtocolError
			if err := <-ts.served; !errors.As(err, &pe) || pe.Status != tt.status {
				t.Errorf("ServeConn returned %v, want a *ProtocolError with status %d", err, tt.status)
			}
		})
	}
}

func TestServerAcceptsLenientButSafeInput(t *testing.T) {
	const host = "Host: a.test\r\n"
	tests := []struct {
		name  string
		input string
	}{
		{name: "empty lines before the request line", input: "\r\n\r\nGET / HTTP/1.1\r\n" + host + "\r\n"},
		{name: "a chunk extension", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n2;name=value\r\nok\r\n0\r\n\r\n"},
		{name: "upper-case chunk sizes and leading zeros", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n00002\r\nok\r\n0\r\n\r\n"},
		{name: "Transfer-Encoding in another case", input: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
		{name: "an absolute-form target", input: "POST http://a.test/x HTTP/1.1\r\nHost: other.test\r\nContent-Length: 2\r\n\r\nok"},
		{name: "a later HTTP/1 minor version", input: "GET / HTTP/1.7\r\n" + host + "\r\n"},
		{name: "obs-text in a header value", input: "GET / HTTP/1.1\r\n" + host + "X-A: caf\xc3\xa9\r\n\r\n"},
		{name: "an empty Host", input: "GET / HTTP/1.1\r\nHost:\r\n\r\n"},
		{name: "whitespace around a header value", input: "GET / HTTP/1.1\r\n" + host + "X-A: \t 1 \t\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is served", func(t *testing.T) {
			ts := serve(t, readingHandler(nil), nil)
			resp, _, _ := ts.exchange(t, "GET", tt.input)
			if resp.StatusCode != 200 {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
		})
	}
}

func TestServerAbortsTheBodyOfAClientThatLeaves(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{name: "a Content-Length body", input: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly ten b"},
		{name: "a chunked body", input: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly ten b"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" cut short is an error from Body.Read", func(t *testing.T) {
			errs := make(chan error, 1)
			ts := serve(t, readingHandler(errs), nil)
			c := dial(t, ts.addr)
			io.WriteString(c, tt.input)
			c.Close()
			if err := <-errs; !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Body.Read error = %v, want io.ErrUnexpectedEOF", err)
			}
		})
	}
}

func TestServerAbortsTheBodyOnBadChunkFraming(t *testing.T) {
	errs := make(chan error, 1)
	ts := serve(t, readingHandler(errs), nil)
	c := dial(t, ts.addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nnope\r\n")
	var pe *ProtocolError
	if err := <-errs; !errors.As(err, &pe) || pe.Status != 400 {
		t.Errorf("Body.Read error = %v, want a *ProtocolError with status 400", err)
	}
}

func TestServerAnswers408ToSlowHeaders(t *testing.T) {
	tests := []struct {
		name string
		sent string
	}{
		{name: "a request line that never ends", sent: "GET / HT"},
		{name: "headers that never end", sent: "GET / HTTP/1.1\r\nHost: a\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" gets 408", func(t *testing.T) {
			ts := serve(t, readingHandler(nil), &ServerConfig{HeadersTimeout: 50 * time.Millisecond})
			resp, _, rc := ts.exchange(t, "GET", tt.sent)
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Errorf("status = %d, want 408", resp.StatusCode)
			}
			assertClosed(t, rc)
			if got := <-ts.rejected; got != 408 {
				t.Errorf("OnProtocolError(%d), want 408", got)
			}
		})
	}
}
