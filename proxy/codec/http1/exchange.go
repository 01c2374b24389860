package http1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
)

// exchange is one request/response on a ClientConn. It decides when the
// connection is released: once both the request body is written and the
// response read, or at once when either fails.
type exchange struct {
	cc        *ClientConn
	req       *http.Request
	br        *bufio.Reader
	body      *responseBody // rb once the final response arrived
	rb        responseBody
	resp      http.Response // the response returned, allocated with the exchange
	stop      func() bool   // stops the context watcher
	watched   *response     // the server request whose context is watched instead
	writeDone chan struct{}

	mu       sync.Mutex
	open     uint8 // parts still running
	reusable bool
	released bool
	aborted  bool  // by the request's context
	bodyErr  error // reading the request body failed
}

// abortExchange runs when the context of the request in progress is done.
// The watcher is stopped before its exchange is released, and one that
// fired makes the connection unusable, so the exchange found here is the
// one whose context ended; nil when it was released meanwhile (then the
// connection is closed already, or is closed again to no effect).
func (cc *ClientConn) abortExchange() {
	cc.mu.Lock()
	ex := cc.ex
	cc.mu.Unlock()
	if ex == nil {
		cc.conn.Close()
		return
	}
	ex.abort()
}

// abort runs when the request's context is done: closing the connection
// unblocks every read and write of the exchange.
func (ex *exchange) abort() {
	ex.mu.Lock()
	ex.aborted = true
	ex.mu.Unlock()
	ex.cc.conn.Close()
}

// finish records that part ended. abort (or the response ending before
// the request body was sent) releases the connection at once as not
// reusable, closing it; otherwise it is released when both parts ended.
func (ex *exchange) finish(part uint8, reusable, abort bool) {
	ex.mu.Lock()
	if ex.open&part == 0 {
		ex.mu.Unlock()
		return
	}
	ex.open &^= part
	if !reusable {
		ex.reusable = false
	}
	if part == partRead && ex.open != 0 {
		abort = true
	}
	if ex.released || (ex.open != 0 && !abort) {
		ex.mu.Unlock()
		return
	}
	ex.released = true
	ok := ex.reusable && !abort
	if !ex.unwatch() {
		ok = false // the context watcher is closing the connection
	}
	ex.mu.Unlock()
	ex.cc.release(ok, false)
}

// unwatch stops watching the request's context; false when the watcher
// has run or is running.
func (ex *exchange) unwatch() bool {
	switch {
	case ex.watched != nil:
		return ex.watched.unwatch(ex.cc)
	case ex.stop != nil:
		return ex.stop()
	}
	return true
}

// wrap prefers the cause that explains a failed read or write: the
// request's context, then a failed request body, then err itself.
func (ex *exchange) wrap(err error) error {
	ex.mu.Lock()
	aborted, bodyErr := ex.aborted, ex.bodyErr
	ex.mu.Unlock()
	if aborted {
		return ctxError(ex.req.Context())
	}
	if bodyErr != nil {
		return bodyErr
	}
	return err
}

func ctxError(ctx context.Context) error {
	return &abortError{cause: context.Cause(ctx)}
}

type abortError struct{ cause error }

func (e *abortError) Error() string { return "http1: exchange aborted: " + e.cause.Error() }
func (e *abortError) Unwrap() error { return e.cause }

// release hands the connection back: reusable, or closed (unless hijacked,
// when the caller owns it now).
func (cc *ClientConn) release(reusable, hijacked bool) {
	cc.mu.Lock()
	cc.ex = nil
	if reusable {
		cc.state = ccIdle
	} else {
		cc.state = ccDead
	}
	cc.mu.Unlock()
	if !reusable && !hijacked {
		cc.conn.Close()
	}
	if cc.onRelease != nil {
		cc.onRelease(reusable)
	}
}

// copyBufPool holds buffers for streaming request bodies.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

var errBodyLength = errors.New("request body length differs from ContentLength")

// writeBody streams the request body after the head already in bw.
func (ex *exchange) writeBody(bw *bufio.Writer, body io.ReadCloser, f framing) {
	defer close(ex.writeDone)
	bufp := copyBufPool.Get().(*[]byte)
	bodyErr, connErr := copyBody(bw, body, f, ex.req, *bufp)
	copyBufPool.Put(bufp)
	body.Close()
	if connErr == nil && bodyErr == nil {
		connErr = bw.Flush()
	}
	putWriter(bw)
	switch {
	case bodyErr != nil:
		ex.mu.Lock()
		ex.bodyErr = &RequestBodyError{Err: bodyErr}
		ex.mu.Unlock()
		ex.finish(partWrite, false, true)
	case connErr != nil:
		// Leave the connection open: the upstream may have answered
		// early and closed, and that response is still to be read.
		ex.finish(partWrite, false, false)
	default:
		ex.finish(partWrite, true, false)
	}
}

// copyBody writes body in framing f; it tells a failure of the body
// (the downstream's fault) from a failure of the connection.
func copyBody(bw *bufio.Writer, body io.Reader, f framing, req *http.Request, buf []byte) (bodyErr, connErr error) {
	var sent int64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			sent += int64(n)
			if f.kind == bodyFixed && sent > f.length {
				return errBodyLength, nil
			}
			var werr error
			if f.kind == bodyChunked {
				werr = writeChunk(bw, buf[:n])
			} else {
				_, werr = bw.Write(buf[:n])
			}
			if werr == nil && !bodyBuffered(body, f) {
				werr = bw.Flush()
			}
			if werr != nil {
				return nil, werr
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr, nil
		}
	}
	if f.kind == bodyFixed {
		if sent != f.length {
			return errBodyLength, nil
		}
		return nil, nil
	}
	// Invalid trailer fields are dropped: failing here, after the body,
	// would leave the upstream waiting for the end of the message.
	if err := writeLastChunk(bw, req.Trailer, HeaderCaseFrom(req.Context()), false); err != nil {
		return nil, err
	}
	return nil, nil
}
