package http1

import (
	"errors"
	"net"
)

// Watching for the client going away while a handler runs (see serverConn's
// bg* and watch* fields).

// startBackgroundRead arranges for the connection to be watched while the
// handler runs with the request fully read, once watchAfter has passed.
func (sc *serverConn) startBackgroundRead(w *response) {
	sc.bgMu.Lock()
	defer sc.bgMu.Unlock()
	if w.finished || sc.bgRunning || sc.watchFor != nil {
		return
	}
	sc.watchFor = w
	sc.watch.start(watchAfter, sc.watchLong)
}

// watchLong starts the background read for a handler that has run for
// watchAfter: an error (the client closed or reset) cancels the request's
// context. Bytes of a pipelined request stay in br.
func (sc *serverConn) watchLong() {
	sc.bgMu.Lock()
	defer sc.bgMu.Unlock()
	w := sc.watchFor
	if !sc.watch.expired(watchAfter, w != nil) {
		return
	}
	sc.watchFor = nil
	if w.finished || sc.bgRunning || sc.br.Buffered() > 0 {
		return
	}
	sc.bgRunning = true
	go func() {
		_, err := sc.br.Peek(1)
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			sc.peerGone.Store(true)
			w.cancel(nil)
		}
		sc.bgDone <- struct{}{}
	}()
}

// stopBackgroundRead cancels a pending watch, or interrupts the background
// read and waits for it. With w, it also keeps a body Read on a goroutine
// the handler left behind from starting another one for a request that is
// over.
func (sc *serverConn) stopBackgroundRead(w *response) {
	sc.bgMu.Lock()
	defer sc.bgMu.Unlock()
	if w != nil {
		w.finished = true
	}
	// The timer stays armed: when it fires it finds no request, or
	// the next one, and does nothing to this one.
	sc.watchFor = nil
	if !sc.bgRunning {
		return
	}
	sc.bgRunning = false
	select {
	case <-sc.bgDone: // it ended by itself: bytes arrived, or an error
	default:
		sc.conn.SetReadDeadline(aLongTimeAgo)
		<-sc.bgDone
		sc.conn.SetReadDeadline(noDeadline)
	}
}
