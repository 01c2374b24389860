package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/outrider-mesh/outrider/internal/looptest"
	"github.com/outrider-mesh/outrider/proxy/failure"
)

// rawPeer is an HTTP/2 server driven frame by frame, for the behaviour a
// well-behaved server never shows. serve runs once per connection, after
// the server's SETTINGS were sent.
func rawPeer(t *testing.T, settings []http2.Setting, serve func(p *peerConn)) string {
	t.Helper()
	done := make(chan struct{})
	addr := looptest.Serve(t, func(c net.Conn) {
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(c, preface); err != nil {
			return
		}
		p := &peerConn{t: t, c: c, fr: http2.NewFramer(c, c), done: done}
		p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		p.enc = hpack.NewEncoder(&p.buf)
		if p.fr.WriteSettings(settings...) != nil {
			return
		}
		serve(p)
	})
	// Registered after Serve's clean-up, so it runs first: the handlers
	// waiting for the test's end return before Serve waits for them.
	t.Cleanup(func() { close(done) })
	return addr
}

type peerConn struct {
	t    *testing.T
	c    net.Conn
	fr   *http2.Framer
	buf  bytes.Buffer
	enc  *hpack.Encoder
	done chan struct{} // closed when the test ends
}

// next returns the client's next frame of interest, acknowledging its
// SETTINGS and skipping window updates; nil once the connection ended.
func (p *peerConn) next() http2.Frame {
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			return nil
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				p.fr.WriteSettingsAck()
			}
		case *http2.WindowUpdateFrame:
		default:
			return f
		}
	}
}

// request returns the stream ID of the client's next request.
func (p *peerConn) request() uint32 {
	for f := p.next(); f != nil; f = p.next() {
		if h, ok := f.(*http2.MetaHeadersFrame); ok {
			return h.StreamID
		}
	}
	return 0
}

// headers sends a header block of name, value pairs.
func (p *peerConn) headers(id uint32, end bool, kv ...string) {
	p.buf.Reset()
	for i := 0; i < len(kv); i += 2 {
		p.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.buf.Bytes(), EndStream: end, EndHeaders: true})
}

func TestTheHTTP2ClientCopesWithAMisbehavingServer(t *testing.T) {
	tests := []struct {
		name      string
		settings  []http2.Setting
		serve     func(p *peerConn)
		body      string // the request body, if any
		want      error  // the failure of the request (nil: it succeeds)
		bodyFails bool   // reading the response body fails with a stream error
	}{
		{
			name:     "invalid SETTINGS fail the handshake",
			settings: []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 31}},
			serve:    func(p *peerConn) { p.next() },
			want:     failure.ErrConnectFailure,
		},
		{
			name:  "a stream the server refuses is a retriable failure",
			serve: func(p *peerConn) { p.fr.WriteRSTStream(p.request(), http2.ErrCodeRefusedStream); p.next() },
			want:  failure.ErrRefusedStream,
		},
		{
			name:  "a stream the server resets is an upstream reset",
			serve: func(p *peerConn) { p.fr.WriteRSTStream(p.request(), http2.ErrCodeInternal); p.next() },
			want:  failure.ErrUpstreamReset,
		},
		{
			name:  "a graceful GOAWAY that does not cover the stream is retriable",
			serve: func(p *peerConn) { p.request(); p.fr.WriteGoAway(0, http2.ErrCodeNo, nil); p.next() },
			want:  failure.ErrRefusedStream,
		},
		{
			name:  "a connection closed under a stream is a connection termination",
			serve: func(p *peerConn) { p.request() },
			want:  failure.ErrUpstreamTermination,
		},
		{
			name:  "a malformed :status is a protocol error, not a crash",
			serve: func(p *peerConn) { p.headers(p.request(), true, ":status", "2x0"); p.next() },
			want:  failure.ErrUpstreamReset,
		},
		{
			name:  "an upper-case response header name is a protocol error",
			serve: func(p *peerConn) { p.headers(p.request(), true, ":status", "200", "X-Bad", "1"); p.next() },
			want:  failure.ErrUpstreamReset,
		},
		{
			name: "a body shorter than its Content-Length fails the body read",
			serve: func(p *peerConn) {
				id := p.request()
				p.headers(id, false, ":status", "200", "content-length", "10")
				p.fr.WriteData(id, true, []byte("short"))
				p.next()
			},
			bodyFails: true,
		},
		{
			name:     "a request body waits for the server's window, then goes on",
			settings: []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 3}},
			body:     "0123456789",
			serve: func(p *peerConn) {
				var got []byte
				for f := p.next(); f != nil; f = p.next() {
					d, ok := f.(*http2.DataFrame)
					if !ok {
						continue
					}
					got = append(got, d.Data()...)
					if d.StreamEnded() {
						p.headers(d.StreamID, false, ":status", "200")
						p.fr.WriteData(d.StreamID, true, got)
						continue
					}
					p.fr.WriteWindowUpdate(d.StreamID, uint32(len(d.Data())))
					p.fr.WriteWindowUpdate(0, uint32(len(d.Data())))
				}
			},
		},
		{
			name: "the server's PING is answered",
			serve: func(p *peerConn) {
				id := p.request()
				p.fr.WritePing(false, [8]byte{1, 2, 3})
				for f := p.next(); f != nil; f = p.next() {
					if ping, ok := f.(*http2.PingFrame); ok && ping.IsAck() && ping.Data == [8]byte{1, 2, 3} {
						p.headers(id, true, ":status", "204")
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noLeaks(t)
			addr := rawPeer(t, tt.settings, tt.serve)
			p, _ := newTestPool(t, addr, Options{Protocol: HTTP2}, 1024)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			resp, got, err := h2Send(t, p, newRequest(t, "POST", "http://"+addr+"/", body))
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				return
			}
			if tt.bodyFails {
				var se http2.StreamError
				if resp == nil || !errors.As(err, &se) {
					t.Fatalf("got %v, want a stream error from the body", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.body != "" && string(got) != tt.body {
				t.Errorf("echo %q, want %q", got, tt.body)
			}
		})
	}
}

func TestARequestToAServerThatNeverReadsEndsWithItsContext(t *testing.T) {
	noLeaks(t)
	addr := rawPeer(t, []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 30}}, func(p *peerConn) {
		p.fr.WriteWindowUpdate(0, 1<<30)
		<-p.done // never reads again
	})
	p, _ := newTestPool(t, addr, Options{Protocol: HTTP2}, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/", io.LimitReader(zeros{}, 1<<30))
	_, err := p.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

func TestAfterGOAWAYTheStreamsItCoversFinishAndTheOthersFailRetriably(t *testing.T) {
	noLeaks(t)
	addr := rawPeer(t, nil, func(p *peerConn) {
		first := p.request()
		p.request() // the second stream, which the GOAWAY does not cover
		p.fr.WriteGoAway(first, http2.ErrCodeNo, nil)
		p.headers(first, false, ":status", "200")
		p.fr.WriteData(first, true, []byte("first"))
		p.next()
	})
	p, st := newTestPool(t, addr, Options{Protocol: HTTP2}, 1024)
	type result struct {
		body string
		err  error
	}
	results := make(chan result, 2)
	send := func() {
		_, body, err := h2Send(t, p, newRequest(t, "GET", "http://"+addr+"/", nil))
		results <- result{string(body), err}
	}
	go send()
	// The second request goes out once the first has its stream.
	deadline := time.Now().Add(5 * time.Second)
	for p.Host.RqActive.Load() != 1 || st.CxTotal.Value() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first request never started")
		}
		time.Sleep(time.Millisecond)
	}
	go send()
	var ok, refused int
	for range 2 {
		r := <-results
		switch {
		case r.err == nil && r.body == "first":
			ok++
		case errors.Is(r.err, failure.ErrRefusedStream):
			refused++
		default:
			t.Errorf("unexpected result %q %v", r.body, r.err)
		}
	}
	if ok != 1 || refused != 1 {
		t.Errorf("%d completed and %d refused, want 1 and 1", ok, refused)
	}
}
