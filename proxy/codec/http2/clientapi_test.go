package http2

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// dialClient opens a ClientConn to addr, closed when the test ends.
func dialClient(t *testing.T, addr string, cfg *ClientConfig) *ClientConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := NewClientConn(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func clientRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestTheCodecsClientAndServerExchangeABodyAndTrailers(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Got")
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
		w.Header().Set("X-Got", r.Trailer.Get("X-Sent"))
	}), nil)
	cc := dialClient(t, addr, nil)
	req := clientRequest(t, "POST", "http://"+addr+"/", io.NopCloser(strings.NewReader("hello")))
	req.Header.Set("Trailer", "X-Sent") // the server delivers declared trailers
	req.Trailer = http.Header{"X-Sent": {"bye"}}
	if !cc.Reserve() {
		t.Fatal("a new connection takes no stream")
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "hello" || resp.Trailer.Get("X-Got") != "bye" {
		t.Fatalf("got %q, %v, trailers %v; want the body and its trailer echoed", body, err, resp.Trailer)
	}
}

func TestAConnectionReservesNoMoreStreamsThanTheServerAllows(t *testing.T) {
	addr := serve(t, http.NotFoundHandler(), &ServerConfig{MaxConcurrentStreams: 1})
	cc := dialClient(t, addr, nil)
	if !cc.Reserve() {
		t.Fatal("the first stream was not reserved")
	}
	if cc.Reserve() {
		t.Fatal("a second stream was reserved beyond SETTINGS_MAX_CONCURRENT_STREAMS 1")
	}
}

func TestARequestOnAClosedConnectionIsNotSent(t *testing.T) {
	addr := serve(t, http.NotFoundHandler(), nil)
	cc := dialClient(t, addr, nil)
	if !cc.Reserve() {
		t.Fatal("a new connection takes no stream")
	}
	cc.Close()
	_, err := cc.RoundTrip(clientRequest(t, "GET", "http://"+addr+"/", nil))
	var ns *NotSentError
	if !errors.As(err, &ns) {
		t.Fatalf("error %v, want a *NotSentError", err)
	}
	if !cc.Gone() {
		t.Error("a closed connection is not gone")
	}
}

func TestAStreamTheServerResetsFailsWithAStreamError(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}), &ServerConfig{ErrorLog: func(string, ...any) {}})
	cc := dialClient(t, addr, nil)
	cc.Reserve()
	_, err := cc.RoundTrip(clientRequest(t, "GET", "http://"+addr+"/", nil))
	var se StreamError
	if !errors.As(err, &se) || se.Code == ErrCodeRefusedStream {
		t.Fatalf("error %v, want a StreamError that is not a refusal", err)
	}
}
