package hcm

import (
	"bytes"
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// rawH2 is a prior-knowledge HTTP/2 client that sees every frame.
type rawH2 struct {
	c  net.Conn
	fr *http2.Framer
}

func dialRawH2(t *testing.T, addr string) *rawH2 {
	t.Helper()
	c, _ := looptest.Dial(t, addr)
	c.Write([]byte(http2.ClientPreface))
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return &rawH2{c: c, fr: fr}
}

func (r *rawH2) request(t *testing.T, id uint32, path string, end bool) {
	t.Helper()
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "test"}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: buf.Bytes(), EndStream: end, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
}

func TestDrainSendsGoAwayAndLetsTheInFlightStreamFinish(t *testing.T) {
	h := newHarness(t, baseConfig(t))
	h.echo.started = make(chan struct{}, 1)
	c := dialRawH2(t, h.addr)
	c.request(t, 1, "/block", true)
	<-h.echo.started
	h.cm.Drain()

	var sawGoAway, sawResponse, sawEnd bool
	for !sawEnd {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("read frame: %v (goaway %v, response %v)", err, sawGoAway, sawResponse)
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo {
				t.Fatalf("GOAWAY with %v, want NO_ERROR", f.ErrCode)
			}
			if f.LastStreamID < 1 {
				t.Fatalf("GOAWAY last stream %d would cut the in-flight stream", f.LastStreamID)
			}
			sawGoAway = true
			close(h.echo.release) // now let the in-flight request finish
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 && f.PseudoValue("status") == "200" {
				sawResponse = true
			}
			sawEnd = sawEnd || f.StreamEnded()
		case *http2.DataFrame:
			sawEnd = sawEnd || f.StreamEnded()
		}
	}
	if !sawGoAway || !sawResponse {
		t.Fatalf("goaway %v, response %v", sawGoAway, sawResponse)
	}
}

func TestRapidResetFloodIsBounded(t *testing.T) {
	h := newHarness(t, baseConfig(t))
	before := runtime.NumGoroutine()
	c := dialRawH2(t, h.addr)
	// Open and reset streams as fast as possible; each would start a
	// handler that blocks until its context ends.
	go func() {
		for id := uint32(1); id < 20000; id += 2 {
			var buf bytes.Buffer
			enc := hpack.NewEncoder(&buf)
			for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "t"}, {":path", "/block"}} {
				enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			if c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: buf.Bytes(), EndStream: true, EndHeaders: true}) != nil {
				return
			}
			if c.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
				return
			}
		}
	}()
	// Drain what the server says until it closes or we have sent it all.
	go func() {
		for {
			if _, err := c.fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	peak := 0
	for time.Now().Before(deadline) {
		if n := runtime.NumGoroutine() - before; n > peak {
			peak = n
		}
		time.Sleep(5 * time.Millisecond)
	}
	// MaxConcurrentStreams is 1024; x/net queues at most 4x that many
	// handlers before closing the connection.
	if peak > 5*1024 {
		t.Errorf("goroutines grew by %d during the flood", peak)
	}
	// Another client is still served.
	resp, err := looptest.H2CClient(t).Get("http://" + h.addr + "/ok")
	if err != nil {
		t.Fatalf("server unresponsive after the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d after the flood", resp.StatusCode)
	}
	c.c.Close()
	for i := 0; ; i++ {
		if h.cm.st.rqActive.Value() == 0 {
			break
		}
		if i > 2000 {
			t.Fatalf("downstream_rq_active stuck at %d after the flood", h.cm.st.rqActive.Value())
		}
		time.Sleep(time.Millisecond)
	}
}
