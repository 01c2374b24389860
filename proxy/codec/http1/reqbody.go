package http1

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// requestBody streams a request body from the downstream connection. It
// sends "100 Continue" on the first Read when the client asked for it,
// and starts the connection's background read at EOF so that a client
// that goes away while the handler works cancels the request's context.
type requestBody struct {
	w  *response
	mu sync.Mutex // held by Read while it uses the reader
	fr framedReader
	// expectContinue: the client waits for 100 Continue before sending.
	expectContinue bool
	closed         bool
	protoErr       *ProtocolError // framing error found in the body
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.expectContinue {
		b.expectContinue = false
		if err := b.w.writeContinue(); err != nil {
			return 0, err
		}
	}
	done := b.fr.done()
	n, err := b.fr.read(p)
	if err == io.EOF && !done {
		b.w.sc.startBackgroundRead(b.w)
	}
	if err != nil && err != io.EOF && b.protoErr == nil {
		errors.As(err, &b.protoErr)
	}
	return n, err
}

// Close marks the body closed; what is left of it is dealt with when the
// handler returns. A Read in flight on another goroutine is not waited for.
func (b *requestBody) Close() error {
	if b.mu.TryLock() {
		b.closed = true
		b.mu.Unlock()
	}
	return nil
}

// ready tells the client side that the next Read will not wait for the
// network (see readyBody): body bytes are already buffered.
func (b *requestBody) ready() bool {
	if !b.mu.TryLock() {
		return false
	}
	defer b.mu.Unlock()
	fr := &b.fr
	if b.closed || b.expectContinue || fr.err != nil || fr.br.Buffered() == 0 {
		return false
	}
	return fr.kind == bodyFixed || (fr.kind == bodyChunked && fr.state == chunkData)
}

// failure returns the framing error the body hit, if any.
func (b *requestBody) failure() *ProtocolError {
	if !b.mu.TryLock() {
		return nil
	}
	defer b.mu.Unlock()
	return b.protoErr
}

// unfinished reports, when the response head is written, that the body
// will not have been read to its end: the handler has not read it all, and
// what is left is more than the codec drains or may never come (the
// client waits for 100 Continue).
func (b *requestBody) unfinished() bool {
	if !b.mu.TryLock() {
		return false // being read right now
	}
	defer b.mu.Unlock()
	if b.fr.done() {
		return false
	}
	return b.expectContinue || b.fr.err != nil || (b.fr.kind == bodyFixed && b.fr.n > maxDrain)
}

// Limits on what the server reads of a body the handler left unread, to
// keep the connection for the next request.
const (
	maxDrain     = 256 << 10
	drainTimeout = 2 * time.Second
)

var drainBufPool = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}

// finish runs after the handler returned and the response was written. It
// closes the body and reports whether the connection can read another
// request: the body was read to its end, or (with drain) its small
// remainder could be drained.
func (b *requestBody) finish(drain bool) bool {
	if !b.mu.TryLock() {
		// A goroutine the handler left behind is still reading: the
		// connection closes, which ends that read.
		b.w.sc.strayReader = true
		return false
	}
	defer b.mu.Unlock()
	b.closed = true
	if b.fr.done() {
		return true
	}
	if !drain || b.fr.err != nil || b.expectContinue {
		// A client waiting for 100 Continue may or may not send the body.
		return false
	}
	if b.fr.kind == bodyFixed && b.fr.n > maxDrain {
		return false
	}
	conn := b.w.sc.conn
	conn.SetReadDeadline(time.Now().Add(drainTimeout))
	defer conn.SetReadDeadline(time.Time{})
	bufp := drainBufPool.Get().(*[]byte)
	defer drainBufPool.Put(bufp)
	for drained := 0; drained <= maxDrain; {
		n, err := b.fr.read(*bufp)
		drained += n
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}
