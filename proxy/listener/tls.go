package listener

import (
	"bufio"
	"context"
	"net"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
	"github.com/outrider-mesh/outrider/proxy/transport/tls"
)

// defaultHandshakeTimeout bounds a TLS handshake when the chain sets no
// transport_socket_connect_timeout. Envoy has no default; a proxy that
// faces the network needs one, or a peer that connects and stays silent
// holds a connection forever.
const defaultHandshakeTimeout = 10 * time.Second

// chainTLS is a filter chain's translated transport_socket: TLS is
// terminated after the chain is chosen, so chains matched on SNI or ALPN
// by tls_inspector can terminate or pass through (a chain without a
// transport_socket forwards the encrypted bytes untouched).
type chainTLS struct {
	server  *tls.Server
	timeout time.Duration
}

func translateChainTLS(fc *listenerv3.FilterChain, env *Env, p config.Path, errs *config.Errors) *chainTLS {
	if d := fc.GetTransportSocketConnectTimeout(); d != nil && fc.GetTransportSocket() == nil {
		errs.Addf(p.Field("transport_socket_connect_timeout"), "listener: only meaningful with a transport_socket")
	}
	ts := fc.GetTransportSocket()
	if ts == nil {
		return nil
	}
	srv, err := env.TLSRegistry().TranslateDownstream(ts, p.Field("transport_socket"))
	if err != nil {
		errs.Add(p.Field("transport_socket"), err)
		return nil
	}
	out := &chainTLS{server: srv, timeout: defaultHandshakeTimeout}
	if d := fc.GetTransportSocketConnectTimeout(); d != nil {
		out.timeout = d.AsDuration() // 0 disables, as in Envoy
	}
	return out
}

// serveChain hands nc to fc's network filter, terminating TLS first when
// the chain has a transport socket. A failed handshake is counted in the
// listener's ssl.* stats, logged with its reason, and closes the
// connection; other connections are not affected.
func (a *active) serveChain(fc *filterChain, nc *network.Conn) {
	if fc.tls == nil {
		fc.filter.ServeConn(a.m.ctx, nc)
		return
	}
	raw, rawReader := nc.Conn, nc.Reader
	// No context: crypto/tls would start a goroutine per handshake to
	// watch it, and Manager.Close ends handshakes by closing the sockets.
	tc, info, err := fc.tls.server.Handshake(context.Background(), &peekedConn{Conn: raw, r: rawReader}, fc.tls.timeout, a.st.sslStats())
	if err != nil {
		he, _ := tls.IsHandshakeError(err)
		a.m.env.Logger().Info("listener: TLS handshake failed, connection closed",
			"listener", nc.ListenerName, "filter_chain", fc.name, "remote", nc.Remote.String(),
			"sni", nc.ServerName, "reason", he.Error())
		return
	}
	r := readers.Get().(*bufio.Reader)
	r.Reset(tc)
	nc.Conn, nc.Reader, nc.TLS = tc, r, info
	if info.ALPN != "" {
		nc.ALPN = []string{info.ALPN}
	}
	fc.filter.ServeConn(streaminfo.WithDownstreamTLS(a.m.ctx, info), nc)
	tc.Close()
	// Give serve its own reader back, so it returns it to the pool.
	nc.Conn, nc.Reader = raw, rawReader
	r.Reset(nil)
	readers.Put(r)
}

// sslStats returns the listener's ssl.* stats, created with its first
// TLS chain's first handshake (a plaintext listener has none, as in Envoy).
func (st *listenerStats) sslStats() *tls.Stats {
	if s := st.ssl.Load(); s != nil {
		return s
	}
	st.ssl.CompareAndSwap(nil, tls.NewStats(st.scope))
	return st.ssl.Load()
}

// peekedConn reads through the reader that holds the bytes listener
// filters peeked (tls_inspector's ClientHello), so the handshake sees the
// connection from its first byte.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
