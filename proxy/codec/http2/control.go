package http2

import (
	"bytes"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http2"
)

// maxQueuedControl bounds the control frames the reader queues while a
// handler holds the write lock; beyond it the reader waits for the lock.
const maxQueuedControl = 16 << 10

// controlQueue holds the acknowledgements and window updates the reader
// could not write at once because a handler held the write lock (perhaps
// blocked on a peer that reads slowly): the reader goes on reading instead
// of waiting, and whoever holds the lock next writes them first. Their
// order relative to stream frames does not matter.
type controlQueue struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	fr      *http2.Framer // writes into buf
	pending atomic.Bool
}

// writeControl writes a control frame now if the write lock is free, and
// queues it otherwise.
func (sc *serverConn) writeControl(fn func(fr *http2.Framer) error) error {
	if sc.wmu.TryLock() {
		err := sc.wErr
		if err == nil {
			sc.pushDeadline()
			sc.flushControlLocked()
			err = sc.noteWriteErr(fn(sc.wfr))
		}
		sc.unlockW()
		return err
	}
	q := &sc.ctrl
	q.mu.Lock()
	err := fn(q.fr)
	full := q.buf.Len() > maxQueuedControl
	q.pending.Store(true)
	q.mu.Unlock()
	if err != nil {
		return err
	}
	if full {
		sc.wmu.Lock() // enough queued: wait, as a writer would
	} else if !sc.wmu.TryLock() {
		return nil // the holder writes the queue when it unlocks
	}
	sc.flushControlLocked()
	sc.unlockW()
	return nil
}

// flushControlLocked writes the queued control frames; wmu is held.
func (sc *serverConn) flushControlLocked() {
	q := &sc.ctrl
	if !q.pending.Load() {
		return
	}
	q.mu.Lock()
	if sc.wErr == nil && q.buf.Len() > 0 {
		_, err := sc.conn.Write(q.buf.Bytes())
		sc.noteWriteErr(err)
	}
	q.buf.Reset()
	q.pending.Store(false)
	q.mu.Unlock()
}

// unlockW releases the write lock, first writing any control frames the
// reader queued meanwhile.
func (sc *serverConn) unlockW() {
	for {
		sc.flushControlLocked()
		sc.wmu.Unlock()
		if !sc.ctrl.pending.Load() || !sc.wmu.TryLock() {
			return
		}
	}
}
