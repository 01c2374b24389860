package http2

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// stream is one request and its response: allocated once with the URL,
// body and response writer it needs.
type stream struct {
	sc       *serverConn
	id       uint32
	req      *http.Request
	url      url.URL
	body     requestBody
	rw       responseWriter
	ctx      context.Context
	sctx     streamContext
	cancelFn context.CancelCauseFunc

	needsContinue bool
	truncated     bool // the header list was over the limit: answer 431

	// Guarded by sc.mu.
	remoteDone bool        // END_STREAM received
	localDone  bool        // END_STREAM sent
	ended      bool        // removed from the table (closed or reset)
	dead       atomic.Bool // ended, readable under the write lock
	resetSent  bool        // we reset it; set with the write lock held too
	sendWindow int64       // what we may still send
	recvWindow int64       // what the peer may still send
	recvUnsent recvCredit  // stream credit not yet returned
	declLen    int64       // the request's Content-Length, -1 if none
	gotLen     int64
	buf        []byte // request body received, not yet read
	off        int
	bodyErr    error // after buf: io.EOF, errNoBody or why the stream ended
	bodyClosed bool  // nobody reads the body any more
	bodyCond   sync.Cond
	trailer    http.Header // received trailers
	// writeDeadline bounds a write's wait for window (SetWriteDeadline).
	writeDeadline time.Time
}

func newStream(sc *serverConn, id uint32) *stream {
	st := &stream{sc: sc, id: id, declLen: -1}
	st.bodyCond.L = &sc.mu
	st.body.st = st
	st.rw.st = st
	sc.mu.Lock()
	st.sendWindow = int64(sc.peerWindow)
	sc.mu.Unlock()
	st.recvWindow = int64(sc.streamWindow)
	return st
}

// cancel ends the stream's context; it is safe before the context exists.
func (st *stream) cancel() {
	if st.cancelFn != nil {
		st.cancelFn(nil)
	}
}

// streamContext is a request's context: the stream's cancellation (with
// a cause, CancelRequest) and one value the handler may attach
// (SetContextValue), so that a connection manager can add its per-stream
// record to the context without deriving one and copying the request.
type streamContext struct {
	context.Context
	key, val any
}

func (c *streamContext) Value(key any) any {
	if c.key != nil && key == c.key {
		return c.val
	}
	return c.Context.Value(key)
}

// endLocked removes the stream from the table: the body's reader sees
// err after the bytes it has, writers stop, and unread bytes are credited
// to the connection. sc.mu is held.
func (st *stream) endLocked(err error) {
	if st.ended {
		return
	}
	sc := st.sc
	st.ended = true
	st.dead.Store(true)
	delete(sc.streams, st.id)
	if len(sc.streams) == 0 {
		sc.idleSince = time.Now()
	}
	if st.bodyErr == nil {
		// Reset before the body's end: what was received is dropped and
		// credited, and the reader sees why.
		st.bodyErr = err
		sc.recvUnsent += recvCredit(len(st.buf) - st.off)
		st.buf, st.off = nil, 0
	}
	st.bodyCond.Broadcast()
	sc.flow.Broadcast()
}

// remoteEndLocked marks END_STREAM received.
func (st *stream) remoteEndLocked() {
	st.remoteDone = true
	if st.bodyErr == nil {
		st.bodyErr = io.EOF
	}
	st.bodyCond.Broadcast()
	if st.localDone {
		st.endLocked(errStreamClosed)
	}
}

// creditLocked adds n consumed bytes to the stream's unreturned credit and
// says how much to return now.
func (st *stream) creditLocked(n int64) uint32 {
	if st.remoteDone || st.ended {
		return 0
	}
	inc := st.recvUnsent.add(n, int64(st.sc.streamWindow))
	st.recvWindow += inc
	return uint32(inc)
}

// runHandlers runs st's handler, then those of queued streams while any
// wait, on this goroutine.
func (sc *serverConn) runHandlers(st *stream) {
	defer sc.handlers.Done()
	for st != nil {
		st.serve()
		sc.mu.Lock()
		st = nil
		for len(sc.queue) > 0 && st == nil {
			next := sc.queue[0]
			sc.queue[0] = nil
			sc.queue = sc.queue[1:]
			if !next.ended {
				st = next // a stream reset while queued never runs
			}
		}
		if len(sc.queue) == 0 {
			sc.queue = nil
		}
		if st == nil {
			sc.curHandlers--
		}
		sc.mu.Unlock()
	}
	sc.closeIfDone()
}

// serve runs the handler of one stream and ends the stream after it.
func (st *stream) serve() {
	defer st.finish()
	if st.truncated {
		st.rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		st.rw.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
		io.WriteString(&st.rw, "<h1>HTTP Error 431</h1><p>Request Header Field(s) Too Large</p>")
		return
	}
	st.sc.h.ServeHTTP(&st.rw, st.req)
}

// finish completes the response after the handler returned (or resets
// the stream after a panic) and releases the request.
func (st *stream) finish() {
	sc := st.sc
	if v := recover(); v != nil {
		if v != http.ErrAbortHandler {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			sc.errLog("http2: panic serving %v: %v\n%s", sc.remote, v, buf)
		}
		sc.resetStream(st.id, http2.ErrCodeInternal)
	} else {
		st.rw.finish()
	}
	st.body.Close()
	sc.mu.Lock()
	st.rw.handlerDone = true
	open := !st.ended && !st.remoteDone
	sc.mu.Unlock()
	if open {
		// The response is complete before the request: ask the client to
		// stop sending it (RFC 9113 8.1).
		sc.resetStream(st.id, http2.ErrCodeNo)
	}
	st.cancel()
}

// requestBody is the request's Body, read from the stream's buffer.
type requestBody struct{ st *stream }

func (b *requestBody) Read(p []byte) (int, error) {
	st := b.st
	sc := st.sc
	if st.needsContinue {
		st.needsContinue = false
		st.rw.writeContinue()
	}
	sc.mu.Lock()
	for st.off == len(st.buf) && st.bodyErr == nil {
		st.bodyCond.Wait()
	}
	if st.rw.handlerDone {
		sc.mu.Unlock()
		return 0, errHandlerDone
	}
	if st.off == len(st.buf) {
		err := st.bodyErr
		if err == io.EOF && st.trailer != nil && st.req.Trailer != nil {
			for k, v := range st.trailer {
				st.req.Trailer[k] = v
			}
			st.trailer = nil
		}
		if err == errNoBody {
			err = io.EOF
		}
		sc.mu.Unlock()
		return 0, err
	}
	n := copy(p, st.buf[st.off:])
	st.off += n
	if st.off == len(st.buf) {
		st.buf, st.off = st.buf[:0], 0
	}
	streamInc := st.creditLocked(int64(n))
	connInc := sc.creditConnLocked(int64(n))
	sc.mu.Unlock()
	sc.sendWindowUpdates(connInc, st.id, streamInc)
	return n, nil
}

// Buffered reports the bytes received and not yet read, and whether the
// client has ended the stream after them (BufferedBody).
func (b *requestBody) Buffered() (n int, complete bool) {
	st := b.st
	st.sc.mu.Lock()
	defer st.sc.mu.Unlock()
	complete = (st.bodyErr == io.EOF || st.bodyErr == errNoBody) && !st.rw.handlerDone
	return len(st.buf) - st.off, complete
}

// Close discards what is left of the body; later DATA is credited as it
// arrives.
func (b *requestBody) Close() error {
	st := b.st
	sc := st.sc
	sc.mu.Lock()
	if st.bodyClosed {
		sc.mu.Unlock()
		return nil
	}
	st.bodyClosed = true
	var connInc uint32
	if unread := len(st.buf) - st.off; unread > 0 {
		connInc = sc.creditConnLocked(int64(unread))
	}
	st.buf, st.off = nil, 0
	if st.bodyErr == nil || st.bodyErr == io.EOF {
		st.bodyErr = errBodyClosed
	}
	st.bodyCond.Broadcast()
	sc.mu.Unlock()
	sc.sendWindowUpdates(connInc, 0, 0)
	return nil
}
