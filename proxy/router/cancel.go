package router

import (
	"context"
	"errors"
)

// requestCanceler is implemented by the connection manager's
// ResponseWriter: CancelRequest ends the context of the request it
// answers with cause (what context.Cause reports).
type requestCanceler interface {
	CanCancelRequest() bool
	CancelRequest(cause error)
}

// cancel ends the exchange's context with cause: the router's timeouts.
// Once the exchange has finished it does nothing, so that a late timer
// never ends the request context of a stream that has moved on.
func (x *exchange) cancel(cause error) {
	if x.cancelFn != nil {
		x.cancelFn(cause)
		return
	}
	x.bodyMu.Lock()
	defer x.bodyMu.Unlock()
	if !x.done.Load() {
		x.canceler.CancelRequest(cause)
	}
}

// ownCause reports whether the exchange's context ended by the router's
// own timeouts (the downstream request goes on, to be answered).
func ownCause(cause error) bool {
	return errors.Is(cause, errRouteTimeout) || errors.Is(cause, errIdleTimeout)
}

// downstreamEnded reports whether the downstream request's context ended
// for another reason than the router's timeouts: the client left, or the
// connection manager ended the stream.
func (x *exchange) downstreamEnded() bool {
	ctx := x.r.Context()
	return ctx.Err() != nil && !ownCause(context.Cause(ctx))
}
