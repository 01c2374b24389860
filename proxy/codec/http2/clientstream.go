package http2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// clientStream is one request on a ClientConn; it is also the response body.
type clientStream struct {
	cc       *ClientConn
	id       uint32
	req      *http.Request
	head     bool
	body     io.ReadCloser // the request body; nil without one
	bodyOnce sync.Once

	// localDone: nothing more is sent on the stream (END_STREAM or
	// RST_STREAM went out, or the stream ended).
	localDone  atomic.Bool
	sendWindow int32 // under cc.mu

	mu        sync.Mutex
	cond      sync.Cond // the response, data or the end arrived
	resp      *http.Response
	ended     bool  // the stream is over: no more frames are taken
	err       error // why it ended; nil after END_STREAM
	buf       []byte
	off       int   // read position in buf
	wantLen   int64 // the response's Content-Length, -1 if none
	gotLen    int64
	recvAvail int64      // DATA bytes the server may still send
	unacked   recvCredit // consumed, not yet granted back
	discard   bool       // the reader closed the body
	stopCtx   func() bool
}

var (
	errResponseBodyClosed = errors.New("http2: response body closed")
	errStreamEnded        = errors.New("http2: stream ended")
)

// RoundTrip sends req on a stream promised by Reserve and waits for the
// response headers.
func (cc *ClientConn) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	s := &clientStream{cc: cc, req: req, head: req.Method == http.MethodHead, wantLen: -1, recvAvail: clientStreamWindow}
	s.cond.L = &s.mu
	if req.Body != nil && req.Body != http.NoBody {
		s.body = req.Body
	}
	cc.wmu.Lock()
	cc.mu.Lock()
	cc.reserved--
	if cc.closed || cc.goAway || ctx.Err() != nil {
		cause := cc.err
		if cause == nil {
			cause = errors.New("connection going away")
		}
		ctxErr := ctx.Err()
		closeNow := cc.idleLocked()
		cc.mu.Unlock()
		cc.wmu.Unlock()
		if closeNow {
			cc.close(errClientClosed)
		}
		s.closeBody()
		if ctxErr != nil {
			return nil, fmt.Errorf("http2: %w", ctxErr)
		}
		// Nothing was sent: another connection may take it.
		return nil, &NotSentError{Addr: cc.addr, Cause: cause}
	}
	s.id = cc.nextID
	cc.nextID += 2
	s.sendWindow = cc.initWindow
	cc.streams[s.id] = s
	maxFrame := cc.maxFrame
	cc.mu.Unlock()
	cc.hbuf.Reset()
	cc.encodeRequest(req, s.body != nil)
	if s.body == nil {
		s.localDone.Store(true)
	}
	err := writeHeaderBlock(cc.fr, s.id, cc.hbuf.Bytes(), s.body == nil, int(maxFrame))
	cc.wmu.Unlock()
	if err != nil {
		cc.close(cc.connErr(err))
	}
	// AfterFunc instead of a goroutine watching ctx; not ctx.Done(),
	// which would make the context allocate its channel.
	stop := context.AfterFunc(ctx, s.cancel)
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		stop()
	} else {
		s.stopCtx = stop
		s.mu.Unlock()
	}
	switch {
	case s.body == nil:
	case s.bodyFits():
		s.writeBody() // no Read waits, no DATA waits for window
	default:
		// The response may arrive while the body is still being sent
		// (gRPC streaming), so the body has its own goroutine.
		go s.writeBody()
	}
	s.mu.Lock()
	for s.resp == nil && !s.ended {
		s.cond.Wait()
	}
	resp, err := s.resp, s.err
	s.mu.Unlock()
	if resp == nil {
		return nil, err
	}
	return resp, nil
}

// cancel ends the stream when the request's context is done.
func (s *clientStream) cancel() {
	s.end(fmt.Errorf("http2: %w", s.req.Context().Err()), resetAlways, http2.ErrCodeCancel)
}

// encodeRequest writes req's header block into cc.hbuf; wmu is held.
func (cc *ClientConn) encodeRequest(req *http.Request, hasBody bool) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	cc.field(":authority", host)
	cc.field(":method", req.Method)
	if req.Method != http.MethodConnect {
		cc.field(":path", req.URL.RequestURI())
		scheme := req.URL.Scheme
		if scheme == "" {
			scheme = "http"
		}
		cc.field(":scheme", scheme)
	}
	for k, vv := range req.Header {
		name := cc.lower.get(k)
		switch name {
		case "host", "content-length":
			continue // written below
		case "te":
			for _, v := range vv {
				if strings.EqualFold(v, "trailers") {
					cc.field("te", "trailers")
					break
				}
			}
			continue
		}
		if isConnectionHeader(name) {
			continue
		}
		for _, v := range vv {
			cc.field(name, v)
		}
	}
	cl := int64(0)
	if hasBody {
		cl = req.ContentLength
		if cl == 0 {
			cl = -1 // a body of unknown length
		}
	}
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		if cl == 0 {
			cc.field("content-length", "0")
		}
	}
	if cl > 0 {
		cc.field("content-length", strconv.FormatInt(cl, 10))
	}
}

func (cc *ClientConn) field(name, value string) {
	cc.henc.WriteField(hpack.HeaderField{Name: name, Value: value})
}

// clientReset says whether ending a stream sends RST_STREAM.
type clientReset uint8

const (
	resetNone      clientReset = iota // the server reset it, or the connection broke
	resetIfSending                    // the response is complete: reset only a request still being sent
	resetAlways                       // abandoned before the server ended it
)

// end ends the stream once: err (nil after END_STREAM) is what its body
// returns after the buffered bytes.
func (s *clientStream) end(err error, rst clientReset, code http2.ErrCode) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.err = true, err
	stop := s.stopCtx
	s.stopCtx = nil
	s.cond.Broadcast()
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	open := !s.localDone.Swap(true)
	if rst == resetAlways || (open && rst == resetIfSending) {
		s.cc.writeRST(s.id, code)
	}
	s.cc.forget(s)
	if open && s.body != nil {
		s.closeBody() // a body writer blocked in Read returns
	}
}

func (s *clientStream) closeBody() {
	if s.body != nil {
		s.bodyOnce.Do(func() { s.body.Close() })
	}
}

func (s *clientStream) hasResponse() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resp != nil
}

// onResponse delivers the response headers to the waiting request.
func (s *clientStream) onResponse(resp *http.Response, ended bool) {
	resp.Body = s
	s.mu.Lock()
	s.resp = resp
	if !s.head && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified {
		// A 304 may carry the Content-Length of the body it omits.
		s.wantLen = resp.ContentLength
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	if ended {
		s.finish()
	}
}

// onTrailers takes the trailers, which end the stream.
func (s *clientStream) onTrailers(h http.Header) {
	s.mu.Lock()
	if s.resp.Trailer == nil {
		s.resp.Trailer = h // none were declared: no copy
	} else {
		for k, v := range h {
			s.resp.Trailer[k] = v
		}
	}
	s.mu.Unlock()
	s.finish()
}

// onData buffers a DATA frame's payload for the reader.
// A broken rule is returned as an http2.StreamError.
func (s *clientStream) onData(data []byte, endStream bool) error {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		s.cc.consumed(len(data))
		return nil
	}
	var err error
	switch n := int64(len(data)); {
	case s.resp == nil:
		err = http2.StreamError{StreamID: s.id, Code: http2.ErrCodeProtocol, Cause: errors.New("DATA before the response headers")}
	case n > s.recvAvail:
		err = http2.StreamError{StreamID: s.id, Code: http2.ErrCodeFlowControl, Cause: errors.New("DATA beyond the stream's window")}
	case s.wantLen >= 0 && s.gotLen+n > s.wantLen:
		err = http2.StreamError{StreamID: s.id, Code: http2.ErrCodeProtocol, Cause: errors.New("DATA beyond the response's content-length")}
	default:
		s.recvAvail -= n
		s.gotLen += n
		if s.discard {
			defer s.cc.consumed(len(data))
		} else if n > 0 {
			s.buf = append(s.buf, data...)
			s.cond.Broadcast()
		}
	}
	s.mu.Unlock()
	if err == nil && endStream {
		s.finish()
	}
	return err
}

// finish ends the stream after the server's END_STREAM, checking the
// body's length against its Content-Length.
func (s *clientStream) finish() {
	var err error
	s.mu.Lock()
	if s.wantLen >= 0 && s.gotLen != s.wantLen {
		err = http2.StreamError{StreamID: s.id, Code: http2.ErrCodeProtocol,
			Cause: fmt.Errorf("response body of %d bytes, content-length %d", s.gotLen, s.wantLen)}
	}
	s.mu.Unlock()
	s.end(err, resetIfSending, http2.ErrCodeCancel)
}

// Read returns the response body as it arrives.
func (s *clientStream) Read(p []byte) (int, error) {
	s.mu.Lock()
	for s.off == len(s.buf) && !s.ended {
		s.cond.Wait()
	}
	if s.off == len(s.buf) {
		err := s.err
		s.mu.Unlock()
		if err == nil {
			err = io.EOF
		}
		return 0, err
	}
	n := copy(p, s.buf[s.off:])
	s.off += n
	var eof bool
	if s.off == len(s.buf) {
		s.buf, s.off = s.buf[:0], 0
		eof = s.ended && s.err == nil
	}
	var update int64
	if !s.ended {
		update = s.unacked.add(int64(n), clientStreamWindow)
		s.recvAvail += update // before the server can act on it
	}
	s.mu.Unlock()
	s.cc.consumed(n)
	if update > 0 {
		s.cc.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(s.id, uint32(update)) })
	}
	if eof {
		return n, io.EOF
	}
	return n, nil
}

// Close ends the response; a stream still open is reset (CANCEL).
func (s *clientStream) Close() error {
	s.mu.Lock()
	rest := len(s.buf) - s.off
	s.buf, s.off, s.discard = nil, 0, true
	s.mu.Unlock()
	s.cc.consumed(rest)
	s.end(errResponseBodyClosed, resetAlways, http2.ErrCodeCancel)
	return nil
}
