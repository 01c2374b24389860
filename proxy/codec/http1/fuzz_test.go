package http1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzServeRequest feeds raw bytes to the server. Whatever the input, the
// server must not panic or hang, and what it writes back must parse as a
// sequence of well-formed responses, one per request the handler saw (plus
// at most a final rejection).
func FuzzServeRequest(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a?b HTTP/1.1\r\nHost: a\r\n\r\nHEAD /b HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"GET http://a/b HTTP/1.1\r\nHost: c\r\n\r\n",
		"\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		var mu sync.Mutex
		var methods []string
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			methods = append(methods, r.Method)
			mu.Unlock()
			n, err := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
			if err != nil {
				return
			}
			if strings.Contains(r.URL.Path, "chunk") {
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Read", strings.Repeat("n", int(n%64)))
			io.WriteString(w, r.URL.Path)
		})
		out := new(bytes.Buffer)
		conn := &memConn{next: readerNext(bytes.NewReader(input)), out: out}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			ServeConn(ctx, conn, nil, h, &ServerConfig{AcceptHTTP10: true, HeadersTimeout: time.Second})
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("ServeConn did not return for input %q", input)
		}

		br := bufio.NewReader(bytes.NewReader(out.Bytes()))
		served := 0
		for {
			if _, err := br.Peek(1); err == io.EOF {
				break
			}
			method := http.MethodGet
			if served < len(methods) {
				method = methods[served]
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				t.Fatalf("unparseable response after %d: %v\ninput %q\noutput %q", served, err, input, out.Bytes())
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatalf("unreadable response body: %v\ninput %q\noutput %q", err, input, out.Bytes())
			}
			if resp.StatusCode == http.StatusContinue {
				continue
			}
			served++
			if served > len(methods) && resp.StatusCode < 400 {
				t.Fatalf("response %d (%d) without a request\ninput %q\noutput %q", served, resp.StatusCode, input, out.Bytes())
			}
		}
		if served < len(methods) {
			t.Fatalf("%d responses for %d requests\ninput %q\noutput %q", served, len(methods), input, out.Bytes())
		}
	})
}

// FuzzClientResponse feeds raw bytes to the client as an upstream's
// answer. Whatever they are, the client must not panic or hang, and must
// call Release exactly once, as not reusable unless the response was
// complete and well framed.
func FuzzClientResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nframes",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		var mu sync.Mutex
		var calls []bool
		conn := &memConn{next: readerNext(bytes.NewReader(input))}
		cc := NewClientConn(conn, &ClientConfig{Release: func(r bool) {
			mu.Lock()
			calls = append(calls, r)
			mu.Unlock()
		}})
		req, _ := http.NewRequest("GET", "http://a/", nil)
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err := cc.RoundTrip(req)
			if err != nil {
				return
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("RoundTrip did not finish for input %q", input)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(calls) != 1 {
			t.Fatalf("Release called %d times for input %q", len(calls), input)
		}
	})
}
