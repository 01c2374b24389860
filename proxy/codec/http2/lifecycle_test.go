package http2

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

func TestDrainSendsGoAwayKeepsTheOpenStreamThenCloses(t *testing.T) {
	release := make(chan struct{})
	inHandler := make(chan struct{}, 1)
	conns := make(chan *Conn, 1)
	addr := serveConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inHandler <- struct{}{}
		<-release
		io.WriteString(w, "done")
	}), conns)
	rc := dialRaw(t, addr)
	rc.headers(1, true, rc.block("/"))
	<-inHandler
	(<-conns).Drain()
	var sawGoAway, sawBody, closed bool
	for !closed {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			closed = true
			break
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo || f.LastStreamID != 1 {
				t.Fatalf("GOAWAY %v last %d, want NO_ERROR keeping stream 1", f.ErrCode, f.LastStreamID)
			}
			sawGoAway = true
			rc.headers(3, true, rc.block("/")) // after the GOAWAY: ignored
			close(release)
		case *http2.DataFrame:
			if f.StreamID == 3 {
				t.Fatal("stream 3, opened after the GOAWAY, was served")
			}
			sawBody = sawBody || string(f.Data()) == "done"
		}
	}
	if !sawGoAway || !sawBody {
		t.Fatalf("goaway %v, body of stream 1 %v", sawGoAway, sawBody)
	}
}

func TestAnIdleConnectionGoesAway(t *testing.T) {
	addr := serve(t, http.NotFoundHandler(), &ServerConfig{IdleTimeout: 50 * time.Millisecond})
	rc := dialRaw(t, addr)
	got := rc.await(1)
	if !got.sawGoAw || got.goAway != http2.ErrCodeNo {
		t.Fatalf("got %+v, want a GOAWAY NO_ERROR", got)
	}
	if _, err := rc.fr.ReadFrame(); err == nil {
		for { // drain whatever is left, then the close
			if _, err := rc.fr.ReadFrame(); err != nil {
				break
			}
		}
	}
}

func TestABadPrefaceClosesTheConnection(t *testing.T) {
	addr := serve(t, http.NotFoundHandler(), nil)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("the connection was not closed: %v", err)
	}
}

// serveConns is serve, handing each connection to conns so that the test
// can drain it.
func serveConns(t *testing.T, h http.Handler, conns chan<- *Conn) string {
	return looptest.Serve(t, func(c net.Conn) {
		hc := NewConn(context.Background(), c, nil, h, nil)
		conns <- hc
		hc.Serve()
	})
}

func TestRequestsOnlyARawClientSends(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		send    func(rc *rawClient) error
		// want lists the :status values of stream 1 in order, then its body.
		want []string
	}{
		{
			name: "CONNECT carries its authority as URL host and request URI",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, r.Method+" "+r.URL.Host+" "+r.RequestURI+" "+r.Host)
			},
			send: func(rc *rawClient) error {
				return rc.headers(1, true, rc.fields(":method", "CONNECT", ":authority", "example.test:443"))
			},
			want: []string{"200", "CONNECT example.test:443 example.test:443 example.test:443"},
		},
		{
			name: "Expect: 100-continue is answered when the body is first read",
			handler: func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				io.WriteString(w, string(b)+" expect="+r.Header.Get("Expect"))
			},
			send: func(rc *rawClient) error {
				if err := rc.headers(1, false, rc.block("/", "expect", "100-continue")); err != nil {
					return err
				}
				// The body goes once the 100 came.
				for {
					f, err := rc.fr.ReadFrame()
					if err != nil {
						return err
					}
					if h, ok := f.(*http2.MetaHeadersFrame); ok && h.PseudoValue("status") == "100" {
						return rc.fr.WriteData(1, true, []byte("body"))
					}
				}
			},
			want: []string{"200", "body expect="},
		},
		{
			name: "a response without a body ends with its HEADERS and a zero Content-Length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(202)
			},
			send: func(rc *rawClient) error { return rc.headers(1, true, rc.block("/")) },
			want: []string{"202", ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, serve(t, tt.handler, nil))
			if err := tt.send(rc); err != nil {
				t.Fatalf("sending: %v", err)
			}
			got := rc.await(1)
			if !got.wasRST && got.status == tt.want[0] && got.body == tt.want[1] {
				return
			}
			t.Fatalf("got %+v, want status %s body %q", got, tt.want[0], tt.want[1])
		})
	}
}

func TestFramesSentBeforeOurResetArrivedAreIgnored(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "early") // answers without reading the body
	}), nil)
	rc := dialRaw(t, addr)
	rc.headers(1, false, rc.block("/"))
	if got := rc.await(1); got.body != "early" {
		t.Fatalf("stream 1: %+v", got)
	}
	// The server follows the complete response with RST_STREAM(NO_ERROR);
	// the body and trailers the client had sent meanwhile arrive after it.
	rc.fr.WriteData(1, false, []byte("late"))
	rc.headers(1, true, rc.fields("x-trailer", "1"))
	rc.headers(3, true, rc.block("/"))
	if got := rc.await(3); got.status != "200" || got.body != "early" {
		t.Fatalf("stream 3 after the late frames: %+v (the connection should live on)", got)
	}
}
