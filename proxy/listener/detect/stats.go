package detect

import (
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Stats count what protocol detection did on one listener.
//
// Envoy's own http_inspector counters are process-wide
// (http_inspector.http11_found, …); the sidecar's additions are per
// listener, so that inbound and outbound fallbacks are told apart:
// listener.<address>.http_inspector.{fallback_tcp, port_skipped,
// server_first_skipped, server_first_learned}.
type Stats struct {
	HTTP10, HTTP11, HTTP2, NotFound, ReadError *stats.Counter

	// FallbackTCP counts connections whose client sent nothing
	// recognisable within listener_filters_timeout and that went on as
	// TCP.
	FallbackTCP *stats.Counter
	// PortSkipped counts connections to a port where filter_disabled
	// turns detection off (server-first and opaque ports).
	PortSkipped *stats.Counter
	// ServerFirstSkipped counts connections to a destination remembered
	// as server-first, which skip detection.
	ServerFirstSkipped *stats.Counter
	// ServerFirstLearned counts destinations found to speak first after
	// a fallback.
	ServerFirstLearned *stats.Counter
}

// NewStats creates the counters in store, the per-listener ones in the
// listener's scope (stats.ListenerScope).
func NewStats(store *stats.Store, listener stats.Scope) *Stats {
	g := store.Root().Scope("http_inspector")
	l := listener.Scope("http_inspector")
	return &Stats{
		HTTP10:             g.Counter("http10_found"),
		HTTP11:             g.Counter("http11_found"),
		HTTP2:              g.Counter("http2_found"),
		NotFound:           g.Counter("http_not_found"),
		ReadError:          g.Counter("read_error"),
		FallbackTCP:        l.Counter("fallback_tcp"),
		PortSkipped:        l.Counter("port_skipped"),
		ServerFirstSkipped: l.Counter("server_first_skipped"),
		ServerFirstLearned: l.Counter("server_first_learned"),
	}
}

// Found counts one http_inspector result: the protocol it returned, or
// the read error that stopped it (a timeout is counted by the caller,
// which knows whether the connection falls back).
func (s *Stats) Found(proto string, err error, timeout bool) {
	switch {
	case timeout:
	case err != nil:
		s.ReadError.Inc()
	case proto == "http/1.1":
		s.HTTP11.Inc()
	case proto == "http/1.0":
		s.HTTP10.Inc()
	case proto == "h2c":
		s.HTTP2.Inc()
	default:
		s.NotFound.Inc()
	}
}
