package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// InjectPath is where the MutatingWebhookConfiguration points.
const InjectPath = "/inject"

// Server is the webhook's HTTPS endpoint plus, optionally, a plain-HTTP metrics endpoint.
type Server struct {
	// Handler answers reviews on InjectPath.
	Handler *Handler
	// GetCertificate returns the serving certificate; it is called on every handshake, so
	// a rotated certificate is used at once. nil (or a nil certificate) means not ready.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Gatherer is what /metrics serves; nil means no /metrics.
	Gatherer prometheus.Gatherer
	// Log; nil means slog.Default().
	Log *slog.Logger
}

// Mux routes the webhook's paths: InjectPath, /healthz (ready once a certificate is
// loaded) and /metrics.
func (s *Server) Mux() *http.ServeMux {
	mux := s.metricsMux()
	mux.Handle(InjectPath, s.Handler)
	return mux
}

func (s *Server) metricsMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if c, err := s.GetCertificate(nil); err != nil || c == nil {
			http.Error(w, "webhook: no serving certificate yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if s.Gatherer != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{}))
	}
	return mux
}

// ServeTLS serves the webhook on l until ctx ends, then drains in-flight reviews.
func (s *Server) ServeTLS(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.Mux(),
		ErrorLog:          s.errorLog(),
		ReadHeaderTimeout: 10 * time.Second,
		// The API server gives a webhook at most 30 s.
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: s.GetCertificate,
		},
	}
	return serve(ctx, srv, tls.NewListener(l, srv.TLSConfig))
}

// ServeMetrics serves /metrics and /healthz over plain HTTP on l until ctx ends, for
// Prometheus and the kubelet, which need no TLS.
func (s *Server) ServeMetrics(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.metricsMux(), ErrorLog: s.errorLog(), ReadHeaderTimeout: 10 * time.Second}
	return serve(ctx, srv, l)
}

// errorLog routes net/http's own messages, mostly TLS handshakes from TCP health checks
// and port scans, to the structured log at debug level.
func (s *Server) errorLog() *log.Logger {
	l := s.Log
	if l == nil {
		l = slog.Default()
	}
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}

func serve(ctx context.Context, srv *http.Server, l net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
