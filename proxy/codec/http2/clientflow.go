package http2

import (
	"fmt"
	"io"
	"net/http"
	"sync"

	"golang.org/x/net/http2"
)

// requestBodyBufs holds the buffers request bodies are copied through: one
// DATA frame's worth.
var requestBodyBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// writeBody copies the request body into DATA frames within the server's
// windows, then ends the stream (with the trailers, if any).
func (s *clientStream) writeBody() {
	defer s.closeBody()
	bp := requestBodyBufs.Get().(*[]byte)
	defer requestBodyBufs.Put(bp)
	buf := *bp
	for {
		n, rerr := s.body.Read(buf)
		last := rerr == io.EOF && !requestHasTrailers(s.req)
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
			s.end(fmt.Errorf("http2: reading the request body: %w", rerr), resetAlways, http2.ErrCodeCancel)
			return
		}
	}
}

// bodyFits reports whether the request body is complete and fits the
// windows open now: writeBody then neither waits for the body nor for
// window, so the requesting goroutine may run it.
func (s *clientStream) bodyFits() bool {
	bb, ok := s.body.(BufferedBody)
	if !ok {
		return false
	}
	n, complete := bb.Buffered()
	if !complete {
		return false
	}
	cc := s.cc
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return int64(n) <= int64(min(cc.sendWindow, s.sendWindow))
}

func requestHasTrailers(req *http.Request) bool {
	for _, v := range req.Trailer {
		if len(v) > 0 {
			return true
		}
	}
	return false
}

// sendData writes data as DATA frames as the windows allow.
func (s *clientStream) sendData(data []byte, endStream bool) error {
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
			return errStreamEnded
		}
		err = cc.fr.WriteData(s.id, end, chunk)
		if end {
			s.localDone.Store(true)
		}
		cc.wmu.Unlock()
		if err != nil {
			cc.close(cc.connErr(err))
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
func (cc *ClientConn) awaitWindow(s *clientStream, want int) (int, error) {
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
			return 0, errStreamEnded
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
func (s *clientStream) sendTrailers() {
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
		name := cc.lower.get(k)
		for _, v := range vv {
			cc.field(name, v)
		}
	}
	err := writeHeaderBlock(cc.fr, s.id, cc.hbuf.Bytes(), true, int(maxFrame))
	cc.wmu.Unlock()
	if err != nil {
		cc.close(cc.connErr(err))
	}
}
