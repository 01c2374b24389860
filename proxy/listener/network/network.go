// Package network is the contract between a listener and the network
// filter that terminates its filter chain (envoy.filters.network.tcp_proxy,
// envoy.filters.network.http_connection_manager): what an accepted
// connection carries once listener filters and chain matching are done, and
// what a translated network filter must do.
package network

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"

	"github.com/outrider-mesh/outrider/proxy/accesslog"
	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/httpfilter"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
	"github.com/outrider-mesh/outrider/proxy/transport/tls"
)

// Conn is one accepted downstream connection handed to a network filter.
type Conn struct {
	// Conn is the socket. Reads must go through Reader, which holds the
	// bytes listener filters peeked.
	net.Conn
	// Reader reads the connection from its first byte.
	Reader *bufio.Reader

	// Local is the address the client connected to: the original
	// destination when the connection was redirected, else the socket's
	// local address. Remote is the peer.
	Local, Remote netip.AddrPort
	// Redirected reports whether Local came from SO_ORIGINAL_DST.
	Redirected bool

	// Facts learned by listener filters.
	ServerName        string   // SNI (tls_inspector)
	TransportProtocol string   // "tls" or "raw_buffer"
	ALPN              []string // TLS ALPN, or "http/1.1", "http/1.0", "h2c" from http_inspector

	ListenerName    string
	FilterChainName string

	// TLS is the session of a connection the listener terminated TLS on
	// (the chain's transport_socket); nil otherwise. Conn and Reader then
	// carry the decrypted stream.
	TLS *streaminfo.TLS
}

// Filter is a translated terminal network filter. One value serves every
// connection of one filter chain of one listener generation.
type Filter interface {
	// ServeConn serves c until it is done, then closes it. ctx is cancelled
	// when the proxy closes everything at once (Manager.Close).
	ServeConn(ctx context.Context, c *Conn)
	// Drain asks every connection the filter serves, and every connection
	// it is given from now on, to finish gracefully: HTTP connections
	// close after their current response (HTTP/1) or get a GOAWAY (HTTP/2);
	// opaque TCP connections are closed after the drain time. It returns at
	// once and may be called more than once.
	Drain()
}

// AccessLogger writes one access-log entry per stream.
type AccessLogger interface {
	Log(info *streaminfo.Info)
}

// Upstream is the part of a cluster that network filters use;
// *cluster.Cluster implements it.
type Upstream interface {
	Pick(lb *cluster.LBContext) (*cluster.Host, error)
	DialTCP(ctx context.Context, h *cluster.Host) (net.Conn, error)
}

var _ Upstream = (*cluster.Cluster)(nil)

// Env is what translating listeners and their network filters needs. The
// lead assembles one per process.
type Env struct {
	Clusters *cluster.Manager
	Stats    *stats.Store
	// LookupCluster, if not nil, finds clusters by name instead of
	// Clusters.Get (tests give tcp_proxy upstreams this way).
	LookupCluster func(name string) Upstream
	// HTTPFilters builds HTTP filters by the type URL of their typed_config
	// ("type.googleapis.com/envoy.extensions.filters.http.router.v3.Router").
	HTTPFilters map[string]httpfilter.Factory
	// AccessLogs translates access_log fields; nil means accesslog.Translate.
	AccessLogs func(logs []*accesslogv3.AccessLog, p config.Path) (AccessLogger, error)
	// DrainTime is how long draining connections are given before opaque
	// TCP connections are closed. Zero means 5s.
	DrainTime time.Duration
	// Log receives operational messages; nil means slog.Default().
	Log *slog.Logger
	// TLS holds the SDS secrets and live TLS contexts (for /certs) of
	// filter chains' transport sockets; nil means tls.Default().
	TLS *tls.Registry
}

// Logger returns the env's logger, never nil.
func (e *Env) Logger() *slog.Logger {
	if e == nil || e.Log == nil {
		return slog.Default()
	}
	return e.Log
}

// AccessLoggers translates an access_log field with AccessLogs, or with
// accesslog.Translate when that is nil.
func (e *Env) AccessLoggers(logs []*accesslogv3.AccessLog, p config.Path) (AccessLogger, error) {
	if e.AccessLogs != nil {
		return e.AccessLogs(logs, p)
	}
	ls, err := accesslog.Translate(logs, p)
	if err != nil {
		return nil, err
	}
	return ls, nil
}

// Cluster finds a cluster by name, or returns nil.
func (e *Env) Cluster(name string) Upstream {
	if e.LookupCluster != nil {
		return e.LookupCluster(name)
	}
	if e.Clusters == nil {
		return nil
	}
	if c := e.Clusters.Get(name); c != nil {
		return c
	}
	return nil
}

// Drain returns the drain time, defaulted.
func (e *Env) Drain() time.Duration {
	if e == nil || e.DrainTime <= 0 {
		return 5 * time.Second
	}
	return e.DrainTime
}

// AddrPort converts a net.Addr from a TCP socket to a netip.AddrPort, with
// IPv4-mapped IPv6 addresses unmapped so that they match IPv4 prefixes.
func AddrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// TLSRegistry returns the env's TLS registry, never nil.
func (e *Env) TLSRegistry() *tls.Registry {
	if e == nil || e.TLS == nil {
		return tls.Default()
	}
	return e.TLS
}
