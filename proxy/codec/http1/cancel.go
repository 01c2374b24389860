package http1

import "net/http"

// CancelRequest cancels the context of the request that w answers, with
// cause (what context.Cause reports), as the client going away does. It
// lets a caller that needs the request cancellable with a cause use the
// codec's own cancellation instead of deriving another context (and
// copying the request) per request. w is the ResponseWriter ServeConn
// passed to the handler; CancelRequest reports false for any other.
func CancelRequest(w http.ResponseWriter, cause error) bool {
	x, ok := w.(*response)
	if ok {
		x.cancel(cause)
	}
	return ok
}

// CancelRequest is CancelRequest(w, cause) for the writer itself, as the
// HTTP/2 codec's writer has it: a caller holds either codec's writer as
// one interface.
func (w *response) CancelRequest(cause error) { w.cancel(cause) }
