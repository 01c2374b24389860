package http1

import (
	"context"
	"sync"
)

// A ClientConn forwarding a request this package's server is serving, on
// that request's own context, does not watch the context with
// context.AfterFunc: the server registers the connection and aborts its
// exchange when it ends the request's context, which only the server can
// do. That spares a proxied request the watcher, its stop function, the
// registration in the context and the context's Done channel.

// requestParent is the parent of a server request's context: the
// connection's base context, through which a ClientConn finds the
// request's response (and its watch) from the request's context.
type requestParent struct {
	context.Context // the connection's base context
	w               *response
}

type responseKey struct{}

func (p *requestParent) Value(key any) any {
	if key == (responseKey{}) {
		return p.w
	}
	return p.Context.Value(key)
}

// requestWatch is the client connection to abort when a server request's
// context ends.
type requestWatch struct {
	mu    sync.Mutex
	cc    *ClientConn // nil when none is registered
	ended bool        // the request's context has ended
}

// watchedRequest returns the server request whose context ctx is, when
// only that request's cancel function can end it; nil otherwise (a
// derived context, another server's, or a connection whose base context
// can end by itself).
func watchedRequest(ctx context.Context) *response {
	w, _ := ctx.Value(responseKey{}).(*response)
	if w == nil || w.ctx != ctx || w.sc.baseDone {
		return nil
	}
	return w
}

// watch registers cc. It reports false when another connection is
// registered already (the caller then watches the context itself); when
// the context has ended, it aborts cc at once, as context.AfterFunc would.
func (w *response) watch(cc *ClientConn) bool {
	rw := &w.rw
	rw.mu.Lock()
	switch {
	case rw.ended:
		rw.mu.Unlock()
		go cc.abortFn()
		return true
	case rw.cc != nil:
		rw.mu.Unlock()
		return false
	}
	rw.cc = cc
	rw.mu.Unlock()
	return true
}

// unwatch removes cc; false when its abort has started (or cc was never
// registered), as a context.AfterFunc stop function reports.
func (w *response) unwatch(cc *ClientConn) bool {
	rw := &w.rw
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.cc != cc {
		return false
	}
	rw.cc = nil
	return true
}

// cancel ends the request's context with cause and aborts the exchange
// registered on it, on a goroutine of its own as context.AfterFunc does:
// the caller may hold locks that aborting takes.
func (w *response) cancel(cause error) {
	w.cancelCtx(cause)
	rw := &w.rw
	rw.mu.Lock()
	cc := rw.cc
	rw.cc, rw.ended = nil, true
	rw.mu.Unlock()
	if cc != nil {
		go cc.abortFn()
	}
}
