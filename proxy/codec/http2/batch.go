package http2

import (
	"net"
	"runtime"
	"sync"
	"time"
)

// BatchedConn sends the writes made to it in batches: Write copies the
// bytes and returns, and a flusher goroutine writes everything gathered
// to the connection once the goroutines that were ready to run have run.
//
// Why: x/net's HTTP/2 client flushes after the HEADERS of a request,
// after each DATA frame and after the empty DATA that ends the stream,
// and its server flushes whenever its write queue runs dry, so a proxied
// gRPC call cost about seven write(2) calls on loopback, most of the
// proxy's CPU (a loopback write delivers to the peer in the writer's
// context). Gathering the frames of a scheduling round into one write is
// what grpc-go's loopy writer does for the same reason.
//
// Writes beyond batchLimit wait for the flusher, so a peer that does not
// read holds back the writer as a plain connection would. A write error
// is returned by the writes after it. Close sends what is gathered first
// (bounded by closeFlushTimeout), so a GOAWAY or RST_STREAM written just
// before Close reaches the peer.
type BatchedConn struct {
	net.Conn

	mu       sync.Mutex
	cond     sync.Cond // signalled when a batch has been written
	pending  []byte    // gathered, not yet written
	spare    []byte    // the last batch's buffer, reused for the next
	flushing bool      // a flusher goroutine is running
	err      error     // the first write error, or net.ErrClosed
	flushFn  func()    // b.flush, bound once: a go statement on it allocates nothing
}

const (
	// batchLimit bounds the bytes a writer may gather before it waits:
	// four full DATA frames.
	batchLimit = 64 << 10
	// keepBatchBuffer is the largest batch buffer kept for reuse, so that
	// a burst does not pin a large buffer to an idle connection.
	keepBatchBuffer = 32 << 10
	// closeFlushTimeout bounds how long Close waits for a peer that does
	// not read to take the last batch.
	closeFlushTimeout = time.Second
)

// NewBatchedConn wraps c. Reads and the other methods go to c directly.
func NewBatchedConn(c net.Conn) *BatchedConn {
	b := &BatchedConn{Conn: c}
	b.cond.L = &b.mu
	b.flushFn = b.flush
	return b
}

// Write gathers p for the flusher.
func (b *BatchedConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	for b.err == nil && len(b.pending) >= batchLimit {
		b.cond.Wait()
	}
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	if b.pending == nil {
		b.pending, b.spare = b.spare[:0], nil
	}
	b.pending = append(b.pending, p...)
	if !b.flushing {
		b.flushing = true
		go b.flushFn()
	}
	b.mu.Unlock()
	return len(p), nil
}

// flush writes the gathered bytes until none are left, then exits: an idle
// connection holds no goroutine.
func (b *BatchedConn) flush() {
	// Let the goroutines that are ready (a handler finishing its
	// response, the serve loop with more frames) add to this batch.
	runtime.Gosched()
	b.mu.Lock()
	for len(b.pending) > 0 && b.err == nil {
		batch := b.pending
		b.pending, b.spare = b.spare[:0], nil
		b.mu.Unlock()
		_, err := b.Conn.Write(batch)
		b.mu.Lock()
		if err != nil && b.err == nil {
			b.err = err
		}
		if cap(batch) <= keepBatchBuffer {
			b.spare = batch[:0]
		}
		b.cond.Broadcast()
	}
	// An idle connection keeps its two buffers while they are small:
	// the next batch reuses them instead of allocating.
	if cap(b.pending) > keepBatchBuffer {
		b.pending = nil
	}
	b.pending = b.pending[:0]
	b.flushing = false
	b.cond.Broadcast()
	b.mu.Unlock()
}

// Close writes what is gathered, then closes the connection.
func (b *BatchedConn) Close() error {
	b.mu.Lock()
	if b.flushing && b.err == nil {
		b.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		for b.flushing {
			b.cond.Wait()
		}
	}
	if b.err == nil {
		b.err = net.ErrClosed
	}
	b.mu.Unlock()
	return b.Conn.Close()
}
