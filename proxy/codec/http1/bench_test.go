package http1

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

const benchRequest = "GET /api/v1/items?id=42 HTTP/1.1\r\nHost: backend.default.svc.cluster.local\r\n" +
	"User-Agent: bench/1.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nX-Request-Id: 6b1f0c9e-8d7a-4b5e-9f2a-1c3d5e7f9a0b\r\n" +
	"X-Forwarded-For: 10.0.0.1\r\nTraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n"

var benchBody = []byte(`{"id":42,"name":"item"}`)

// okHandler answers like a small JSON API.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{"23"}
	w.Write(benchBody)
})

// BenchmarkServeRequest measures request parsing and response writing:
// b.N keep-alive requests on one in-memory connection, one per read.
func BenchmarkServeRequest(b *testing.B) {
	benchServe(b, []byte(benchRequest), okHandler)
}

// BenchmarkServeRequestWithBody adds a 1 KiB request body read by the
// handler.
func BenchmarkServeRequestWithBody(b *testing.B) {
	body := strings.Repeat("b", 1024)
	req := strings.Replace(benchRequest, "GET", "POST", 1)
	req = strings.Replace(req, "\r\n\r\n", "\r\nContent-Length: 1024\r\n\r\n", 1) + body
	benchServe(b, []byte(req), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		okHandler(w, r)
	}))
}

func benchServe(b *testing.B, req []byte, h http.Handler) {
	conn := &memConn{next: repeatNext(req, b.N)}
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	b.ResetTimer()
	if err := ServeConn(context.Background(), conn, nil, h, nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkClientRoundTrip measures request writing and response parsing
// on one in-memory connection.
func BenchmarkClientRoundTrip(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n" +
		"Server: backend\r\nContent-Length: 23\r\n\r\n" + string(benchBody))
	conn := &memConn{next: repeatNext(resp, b.N)}
	cc := NewClientConn(conn, &ClientConfig{Release: func(bool) {}})
	req, _ := http.NewRequest("GET", "http://backend.default.svc.cluster.local/api/v1/items?id=42", nil)
	req.Header.Set("User-Agent", "bench/1.0")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("X-Request-Id", "6b1f0c9e-8d7a-4b5e-9f2a-1c3d5e7f9a0b")
	buf := make([]byte, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r, err := cc.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Body.Read(buf); err != nil {
				break
			}
		}
		r.Body.Close()
	}
}

// BenchmarkLoopbackRoundTrip measures both sides over a real loopback
// TCP connection: this package's client against its server.
func BenchmarkLoopbackRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go ServeConn(context.Background(), c, nil, okHandler, nil)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	cc := NewClientConn(c, nil)
	defer cc.Close()
	req, _ := http.NewRequest("GET", "http://backend/api/v1/items?id=42", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r, err := cc.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
}

// BenchmarkNetHTTPServeRequest is BenchmarkServeRequest's workload served
// by net/http's server, for a ratio measured in the same run.
func BenchmarkNetHTTPServeRequest(b *testing.B) {
	conn := &memConn{next: repeatNext([]byte(benchRequest), b.N)}
	closed := make(chan struct{})
	srv := &http.Server{Handler: okHandler, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			close(closed)
		}
	}}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRequest)))
	b.ResetTimer()
	go srv.Serve(&oneConnListener{conn: conn})
	<-closed
	b.StopTimer()
	srv.Close()
}

// oneConnListener accepts conn once, then blocks until closed.
type oneConnListener struct {
	conn net.Conn
	done chan struct{}
	once bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.once {
		l.once = true
		l.done = make(chan struct{})
		return l.conn, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	if l.done != nil {
		select {
		case <-l.done:
		default:
			close(l.done)
		}
	}
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return memAddr }
