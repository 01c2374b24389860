package http1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestAnExchangeForwardingARequestEndsWithTheRequestsContext covers the
// two ways an upstream exchange watches the downstream request's context:
// registered with the server (the request's own context) or through
// context.AfterFunc (a context derived from it).
func TestAnExchangeForwardingARequestEndsWithTheRequestsContext(t *testing.T) {
	cause := errors.New("route timeout")
	tests := []struct {
		name    string
		derive  bool // forward on a context derived from the request's
		leave   bool // the client leaves instead of the handler cancelling
		wantErr error
	}{
		{name: "the request's own context, cancelled with a cause, aborts the exchange with that cause", wantErr: cause},
		{name: "the request's own context, ended by the client leaving, aborts the exchange", leave: true, wantErr: context.Canceled},
		{name: "a context derived from the request's, cancelled with a cause, aborts the exchange with that cause", derive: true, wantErr: cause},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arrived, upstreamClosed := make(chan struct{}), make(chan struct{})
			upstream := listen(t, func(c net.Conn) {
				// Read the request and never answer; report when the
				// proxy closes the connection.
				defer close(upstreamClosed)
				br := bufio.NewReader(c)
				if _, err := readHead(br); err != nil {
					return
				}
				close(arrived)
				io.Copy(io.Discard, br)
			})
			rel := newReleases()
			cc := NewClientConn(dial(t, upstream), &ClientConfig{Release: rel.release})
			got := make(chan error, 1)
			ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := r.Context()
				var cancel context.CancelCauseFunc
				if tt.derive {
					ctx, cancel = context.WithCancelCause(ctx)
					defer cancel(nil)
				}
				out := r.Clone(ctx)
				out.RequestURI = ""
				if !tt.leave {
					// Cancel once the exchange is under way.
					go func() {
						<-arrived
						if cancel != nil {
							cancel(cause)
						} else {
							CancelRequest(w, cause)
						}
					}()
				}
				_, err := cc.RoundTrip(out)
				got <- err
			}), nil)
			rc := ts.dial(t)
			io.WriteString(rc, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			if tt.leave {
				<-arrived
				rc.Close()
			}
			var err error
			select {
			case err = <-got:
			case <-time.After(testTimeout):
				t.Fatal("the exchange was not aborted")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("RoundTrip error %v, want one wrapping %v", err, tt.wantErr)
			}
			if rel.wait(t) {
				t.Error("the aborted connection was released as reusable")
			}
			select {
			case <-upstreamClosed:
			case <-time.After(testTimeout):
				t.Fatal("the upstream connection was not closed")
			}
		})
	}
}

func TestAFinishedExchangeLeavesItsConnectionReusableWhenTheRequestEnds(t *testing.T) {
	upstream := listen(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := readHead(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	rel := newReleases()
	cc := NewClientConn(dial(t, upstream), &ClientConfig{Release: rel.release})
	ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		resp, err := cc.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.Copy(w, resp.Body)
		resp.Body.Close()
	}), nil)
	rc := ts.dial(t)
	for i := range 3 {
		io.WriteString(rc, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, body := readResponse(t, rc.br, "GET")
		if resp.StatusCode != http.StatusOK || body != "ok" {
			t.Fatalf("request %d: got %d %q", i, resp.StatusCode, body)
		}
		if !rel.wait(t) {
			t.Fatalf("request %d: the connection was not released as reusable", i)
		}
	}
}
