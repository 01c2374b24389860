package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Server serves a handler on one address until closed: the admin API on
// admin.address (15000), the readiness port (15021), the Prometheus port
// (15090).
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Listen starts serving h on addr ("127.0.0.1:15000", ":0" for tests).
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	s := &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       time.Minute,
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns ErrServerClosed once closed
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops listening and closes every connection now.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Shutdown stops listening and waits for requests in flight, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.done
	return err
}

// ReadyHandler answers the kubelet's readiness probe (mounted at
// /healthz/ready on 15021): 200 when the proxy is LIVE and its health
// check is not failed, 503 otherwise, with the state as the body.
func (a *Admin) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.Header().Set("Cache-Control", "no-cache, max-age=0")
		a.ready(w, r)
	})
}

// PrometheusHandler serves st in the Prometheus text format with the
// usedonly and filter parameters, for the scrape port (15090,
// /stats/prometheus), which exposes nothing else of the admin API.
func PrometheusHandler(st *stats.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		servePrometheus(st, w, r)
	})
}
