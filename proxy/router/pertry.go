package router

import (
	"context"
	"time"
)

// perTryTimer is one try's per_try_timeout. Envoy arms it only once the
// whole downstream request has been received (UpstreamRequest's
// setupPerTryTimeout runs from onPoolReady when the downstream stream has
// ended, else from the router's onRequestComplete), so that a client
// uploading a large body slowly is bounded by the route and idle timeouts,
// never by the per-try timeout; a retry, whose body is then buffered and
// sent at once, gets its timer when it starts. Until the end of the body
// the timer waits in exchange.pendingTry and the body reader arms it.
type perTryTimer struct {
	cancel context.CancelCauseFunc // ends the try's context
	t      *time.Timer             // nil until armed
}

// startPerTry returns the per-try timer of a try whose context cancel
// ends: armed now when the downstream request is complete, else at the
// end of its body.
func (x *exchange) startPerTry(cancel context.CancelCauseFunc) *perTryTimer {
	pt := &perTryTimer{cancel: cancel}
	x.bodyMu.Lock()
	if x.received {
		pt.arm(x.perTry)
	} else {
		x.pendingTry = pt
	}
	x.bodyMu.Unlock()
	return pt
}

func (pt *perTryTimer) arm(d time.Duration) {
	pt.t = time.AfterFunc(d, func() { pt.cancel(errPerTryTimeout) })
}

// stopPerTry ends pt's timeout; false when it had already fired.
func (x *exchange) stopPerTry(pt *perTryTimer) bool {
	x.bodyMu.Lock()
	defer x.bodyMu.Unlock()
	if x.pendingTry == pt {
		x.pendingTry = nil
	}
	return pt.t == nil || pt.t.Stop()
}

// requestReceived notes that the whole downstream request has been
// received: the route timeout starts, and so does the per-try timeout of
// the try in flight. x.bodyMu is held, or the exchange has not started
// its first try. A body read again after its end changes nothing.
func (x *exchange) requestReceived() {
	if x.received {
		return
	}
	x.received = true
	x.armTimeout()
	if pt := x.pendingTry; pt != nil {
		x.pendingTry = nil
		pt.arm(x.perTry)
	}
}
