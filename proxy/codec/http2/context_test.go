package http2

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

type ctxKey struct{}

func TestTheHandlerAttachesAValueToTheRequestContextAndCancelsItWithACause(t *testing.T) {
	stop := errors.New("stopped by the handler")
	type seen struct {
		value       any
		cause       error
		childCause  error
		parentValue any
	}
	got := make(chan seen, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := w.(interface {
			SetContextValue(key, val any)
			CancelRequest(cause error)
		})
		sw.SetContextValue(ctxKey{}, "mine")
		ctx := r.Context()
		child, cancel := context.WithCancel(ctx) // registers with the stream's context
		defer cancel()
		sw.CancelRequest(stop)
		<-child.Done()
		got <- seen{value: ctx.Value(ctxKey{}), cause: context.Cause(ctx), childCause: context.Cause(child), parentValue: child.Value(ctxKey{})}
		io.WriteString(w, "ok")
	}), nil)
	resp, err := looptest.H2CClient(t).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := <-got
	if s.value != "mine" || s.parentValue != "mine" {
		t.Errorf("Value = %v, from a child %v; want mine", s.value, s.parentValue)
	}
	if s.cause != stop || s.childCause != stop {
		t.Errorf("Cause = %v, of a child %v; want %v", s.cause, s.childCause, stop)
	}
}
