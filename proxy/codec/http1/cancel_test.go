package http1

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCancelRequestEndsTheRequestContextWithTheCause(t *testing.T) {
	cause := errors.New("stream idle timeout")
	seen := make(chan error, 1)
	ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !CancelRequest(w, cause) {
			t.Error("CancelRequest did not recognise the codec's ResponseWriter")
		}
		<-r.Context().Done()
		seen <- context.Cause(r.Context())
		w.Write([]byte("after"))
	}), nil)
	resp, body, _ := ts.exchange(t, "GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if got := <-seen; got != cause {
		t.Errorf("context.Cause = %v, want %v", got, cause)
	}
	if resp.StatusCode != http.StatusOK || body != "after" {
		t.Errorf("got %d %q, want the handler's answer: cancelling the context does not end the response", resp.StatusCode, body)
	}
}

func TestCancelRequestRefusesAnotherResponseWriter(t *testing.T) {
	if CancelRequest(httptest.NewRecorder(), errors.New("x")) {
		t.Error("CancelRequest reported true for a ResponseWriter that is not the codec's")
	}
}
