package http2

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
)

// TestMisbehavingPeers drives the server with raw frames: each case sends
// something a well-behaved client would not and checks the answer.
func TestMisbehavingPeers(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	waits := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	tests := []struct {
		name string
		cfg  *ServerConfig
		// handler serves the stream; nil means one that reads the body
		// and answers "ok".
		handler http.Handler
		// send misbehaves on stream 1 (or the connection).
		send func(rc *rawClient) error
		want outcome
	}{
		{
			name: "a connection-specific request header resets the stream",
			send: func(rc *rawClient) error { return rc.headers(1, true, rc.block("/", "connection", "keep-alive")) },
			want: outcome{reset: http2.ErrCodeProtocol, wasRST: true},
		},
		{
			name: "te other than trailers resets the stream",
			send: func(rc *rawClient) error { return rc.headers(1, true, rc.block("/", "te", "gzip")) },
			want: outcome{reset: http2.ErrCodeProtocol, wasRST: true},
		},
		{
			name: "an upper-case header name resets the stream",
			send: func(rc *rawClient) error { return rc.headers(1, true, rc.block("/", "X-Upper", "1")) },
			want: outcome{reset: http2.ErrCodeProtocol, wasRST: true},
		},
		{
			name: "a request without :path resets the stream",
			send: func(rc *rawClient) error {
				return rc.headers(1, true, rc.fields(":method", "GET", ":scheme", "http", ":authority", "test"))
			},
			want: outcome{reset: http2.ErrCodeProtocol, wasRST: true},
		},
		{
			name: "a body longer than its content-length resets the stream",
			send: func(rc *rawClient) error {
				if err := rc.headers(1, false, rc.block("/", "content-length", "2")); err != nil {
					return err
				}
				return rc.fr.WriteData(1, true, []byte("three"))
			},
			want: outcome{reset: http2.ErrCodeProtocol, wasRST: true},
		},
		{
			name: "a header list over the limit is answered 431",
			cfg:  &ServerConfig{MaxHeaderBytes: 1024},
			send: func(rc *rawClient) error {
				v := strings.Repeat("a", 600)
				return rc.headers(1, true, rc.block("/", "x-a", v, "x-b", v, "x-c", v))
			},
			want: outcome{status: "431", body: "<h1>HTTP Error 431</h1><p>Request Header Field(s) Too Large</p>"},
		},
		{
			name: "a CONTINUATION flood closes the connection before it is decoded",
			cfg:  &ServerConfig{MaxHeaderBytes: 1024},
			send: func(rc *rawClient) error {
				b := rc.block("/")
				if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b}); err != nil {
					return err
				}
				frag := bytes.Repeat([]byte{0x40, 0x01, 'x', 0x7f}, 4000) // literal fields, never ending
				for range 1000 {
					if err := rc.fr.WriteContinuation(1, false, frag); err != nil {
						return nil // the server hung up
					}
				}
				return nil
			},
			want: outcome{goAway: http2.ErrCodeProtocol, sawGoAw: true},
		},
		{
			name: "a PING flood is told to calm down",
			send: func(rc *rawClient) error {
				for range 2 * maxControlPerSecond {
					if err := rc.fr.WritePing(false, [8]byte{1}); err != nil {
						return nil
					}
				}
				return nil
			},
			want: outcome{goAway: http2.ErrCodeEnhanceYourCalm, sawGoAw: true},
		},
		{
			name: "a run of empty DATA frames is told to calm down",
			send: func(rc *rawClient) error {
				if err := rc.headers(1, false, rc.block("/")); err != nil {
					return err
				}
				for range 2 * maxEmptyFrames {
					if err := rc.fr.WriteData(1, false, nil); err != nil {
						return nil
					}
				}
				return nil
			},
			want: outcome{goAway: http2.ErrCodeEnhanceYourCalm, sawGoAw: true},
		},
		{
			name:    "DATA beyond the stream's window is a flow-control error",
			cfg:     &ServerConfig{InitialStreamWindow: 65535, InitialConnWindow: 1 << 20},
			handler: waits, // reads nothing, so returns no window
			send: func(rc *rawClient) error {
				if err := rc.headers(1, false, rc.block("/")); err != nil {
					return err
				}
				chunk := make([]byte, 16384)
				for range 5 {
					if err := rc.fr.WriteData(1, false, chunk); err != nil {
						return err
					}
				}
				return nil
			},
			want: outcome{reset: http2.ErrCodeFlowControl, wasRST: true},
		},
		{
			name: "HEADERS on an even stream end the connection",
			send: func(rc *rawClient) error { return rc.headers(2, true, rc.block("/")) },
			want: outcome{goAway: http2.ErrCodeProtocol, sawGoAw: true},
		},
		{
			name: "a frame before the client's SETTINGS ends the connection",
			send: func(rc *rawClient) error { return nil }, // see below: no SETTINGS
			want: outcome{goAway: http2.ErrCodeProtocol, sawGoAw: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			if h == nil {
				h = ok
			}
			addr := serve(t, h, tt.cfg)
			var rc *rawClient
			if strings.HasPrefix(tt.name, "a frame before") {
				rc = dialRawWith(t, addr, false)
				rc.fr.WritePing(false, [8]byte{})
			} else {
				rc = dialRaw(t, addr)
			}
			if err := tt.send(rc); err != nil {
				t.Fatalf("sending: %v", err)
			}
			got := rc.await(1)
			got.closed = false // the connection may end after any outcome
			if tt.want.sawGoAw {
				got.status, got.body, got.reset, got.wasRST = "", "", 0, false
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRapidResetKeepsHandlersWithinTheStreamLimit(t *testing.T) {
	const limit = 4
	var running, peak, started atomic.Int32
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-r.Context().Done()
	}), &ServerConfig{MaxConcurrentStreams: limit})
	rc := dialRaw(t, addr)
	go func() {
		for {
			if _, err := rc.fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	block := rc.block("/")
	sent := 0
	for id := uint32(1); sent < 2000; id += 2 {
		if rc.headers(id, true, block) != nil || rc.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
			break // the server closed the connection: bounded too
		}
		sent++
	}
	rc.c.Close()
	if p := peak.Load(); p > limit {
		t.Fatalf("%d handlers ran at once, more than the %d streams allowed", p, limit)
	}
	t.Logf("sent %d reset streams, %d handlers started", sent, started.Load())
}
