package upstream

import (
	"fmt"
	"io"
	"net/http"
	"sync"

	"golang.org/x/net/http2"
)

// h2BodyBufs holds the buffers request bodies are copied through: one
// DATA frame's worth.
var h2BodyBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// writeBody copies the request body into DATA frames within the server's
// windows, then ends the stream (with the trailers, if any).
func (s *h2Stream) writeBody() {
	defer s.closeBody()
	bp := h2BodyBufs.Get().(*[]byte)
	defer h2BodyBufs.Put(bp)
	buf := *bp
	for {
		n, rerr := s.body.Read(buf)
		last := rerr == io.EOF && !hasTrailers(s.req)
		if n > 0 || last {
			if s.sendData(buf[:n], last) != nil {
				return // the stream or the connection ended
			}
		}
		switch {
		case rerr == io.EOF && !last:
			s.sendTrailers()
			return
		case rerr == io.EOF:
			return
		case rerr != nil:
			s.end(fmt.Errorf("upstream: reading the request body: %w", rerr), resetAlways, http2.ErrCodeCancel)
			return
		}
	}
}

func hasTrailers(req *http.Request) bool {
	for _, v := range req.Trailer {
		if len(v) > 0 {
			return true
		}
	}
	return false
}

// sendData writes data as DATA frames as the windows allow.
func (s *h2Stream) sendData(data []byte, endStream bool) error {
	cc := s.cc
	for {
		n, err := cc.awaitWindow(s, len(data))
		if err != nil {
			return err
		}
		chunk := data[:n]
		data = data[n:]
		end := endStream && len(data) == 0
		cc.wmu.Lock()
		if s.localDone.Load() {
			cc.wmu.Unlock()
			return errH2StreamEnded
		}
		err = cc.fr.WriteData(s.id, end, chunk)
		if end {
			s.localDone.Store(true)
		}
		cc.wmu.Unlock()
		if err != nil {
			cc.close(fmt.Errorf("upstream: http2 connection to %s: %w", cc.addr, err))
			return err
		}
		if len(data) == 0 {
			return nil
		}
	}
}

// awaitWindow takes up to want bytes (at most a frame) of the
// connection's and the stream's send windows, waiting for some; zero
// for want 0.
func (cc *h2Client) awaitWindow(s *h2Stream, want int) (int, error) {
	if want == 0 {
		return 0, nil
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for {
		if cc.closed {
			return 0, cc.err
		}
		if s.localDone.Load() {
			return 0, errH2StreamEnded
		}
		n := min(int64(want), int64(cc.sendWindow), int64(s.sendWindow), int64(cc.maxFrame))
		if n > 0 {
			cc.sendWindow -= int32(n)
			s.sendWindow -= int32(n)
			return int(n), nil
		}
		cc.cond.Wait()
	}
}

// sendTrailers ends the stream with the request's trailers.
func (s *h2Stream) sendTrailers() {
	cc := s.cc
	cc.mu.Lock()
	maxFrame := cc.maxFrame
	cc.mu.Unlock()
	cc.wmu.Lock()
	if s.localDone.Swap(true) {
		cc.wmu.Unlock()
		return
	}
	cc.hbuf.Reset()
	for k, vv := range s.req.Trailer {
		name := cc.lowerName(k)
		for _, v := range vv {
			cc.field(name, v)
		}
	}
	err := cc.writeBlock(s.id, cc.hbuf.Bytes(), true, maxFrame)
	cc.wmu.Unlock()
	if err != nil {
		cc.close(fmt.Errorf("upstream: http2 connection to %s: %w", cc.addr, err))
	}
}
