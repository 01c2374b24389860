// Package hcm is envoy.filters.network.http_connection_manager: it speaks
// HTTP/1 (through the codec/http1 package) or HTTP/2 (prior-knowledge h2c,
// through golang.org/x/net/http2) on a downstream connection and runs
// every request through the translated HTTP filter chain, router last.
//
// Per request it fills a streaminfo.Info (pooled) carried by the request
// context: protocol, addresses, x-request-id, the route matched against
// the manager's current route table, and at the end the response code,
// flags and byte counts, then writes the access logs.
//
// Upgrades: when a request asks for websocket and the matched route's
// upgrade_configs allow it (or, when the route says nothing, the manager's
// do), Info.Upgrade is "websocket"; the router proxies the upgraded stream
// (on HTTP/1 the ResponseWriter implements http.Hijacker). A routed
// request that asks for an upgrade that is not allowed is answered 403
// and its connection closed, as Envoy does.
package hcm

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/outrider-mesh/outrider/proxy/codec/http1"
	h2codec "github.com/outrider-mesh/outrider/proxy/codec/http2"
	"github.com/outrider-mesh/outrider/proxy/listener/inspector"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/route"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

type httpHandler = http.Handler

// ConnectionManager is one translated http_connection_manager. It serves
// every connection of its filter chain.
type ConnectionManager struct {
	s         settings
	scope     stats.Scope
	st        *hcmStats
	routes    atomic.Pointer[route.Table]
	handler   http.Handler // the HTTP filter chain, router last
	accessLog network.AccessLogger
	drainTime time.Duration
	// serverValue is the Server header value, shared by every response
	// (see valueHTTP).
	serverValue []string

	h1 http1.ServerConfig
	h2 h2codec.ServerConfig

	draining atomic.Bool
	mu       sync.Mutex
	// conns are the open connections; an HTTP/2 one maps to its codec
	// connection, which Drain tells to GOAWAY.
	conns   map[net.Conn]*h2codec.Conn
	drainAt time.Time

	streams sync.Pool // *stream
}

var _ network.Filter = (*ConnectionManager)(nil)

func newConnectionManager(s settings, env *network.Env) *ConnectionManager {
	store := env.Stats
	if store == nil {
		store = stats.NewStore()
	}
	scope := stats.HTTPScope(store, s.statPrefix)
	cm := &ConnectionManager{
		s:           s,
		scope:       scope,
		st:          newStats(scope),
		drainTime:   env.Drain(),
		conns:       map[net.Conn]*h2codec.Conn{},
		serverValue: []string{s.serverName},
	}
	cm.streams.New = func() any { return newStream(cm) }
	cm.h1 = http1.ServerConfig{
		MaxHeaderBytes: s.maxHeaderBytes,
		HeadersTimeout: s.headersTimeout,
		IdleTimeout:    s.idleTimeout,
		AcceptHTTP10:   s.acceptHTTP10,
		PreserveCase:   s.preserveCase,
		Draining:       cm.draining.Load,
		// OnProtocolError is set per connection (h1Conn).
	}
	cm.h2 = h2codec.ServerConfig{
		MaxConcurrentStreams: s.maxStreams,
		InitialStreamWindow:  s.streamWindow,
		InitialConnWindow:    s.connWindow,
		MaxHeaderBytes:       s.maxHeaderBytes,
		IdleTimeout:          s.idleTimeout,
		// A connection accepted during a drain serves one stream, then
		// goes away.
		Draining: cm.draining.Load,
	}
	return cm
}

// AdoptRoutes makes next's route table this manager's, for a reload that
// changed nothing but the inline route_config: requests on existing
// connections use it from their next request on.
func (cm *ConnectionManager) AdoptRoutes(next *ConnectionManager) {
	cm.routes.Store(next.routes.Load())
}

// Routes is the current route table (nil when none was configured).
func (cm *ConnectionManager) Routes() *route.Table { return cm.routes.Load() }

type connKey struct{}

// ServeConn serves HTTP on c until the peer or a drain closes it.
func (cm *ConnectionManager) ServeConn(ctx context.Context, c *network.Conn) {
	defer c.Close()
	cm.track(c.Conn, nil)
	defer cm.untrack(c.Conn)
	cm.st.cxTotal.Inc()
	cm.st.cxActive.Inc()
	defer cm.st.cxActive.Dec()
	defer cm.st.cxDestroy.Inc()
	ctx = context.WithValue(ctx, connKey{}, c)

	h2 := cm.s.codec == hcmv3.HttpConnectionManager_HTTP2
	switch {
	case cm.s.codec != hcmv3.HttpConnectionManager_AUTO:
	case c.TLS != nil && c.TLS.ALPN != "":
		// TLS negotiated the protocol, as Envoy's AUTO codec honours: a
		// peer that agreed to h2 and then sends no preface is refused as
		// HTTP/2 refuses it, not answered in HTTP/1 (h2spec 3.5).
		h2 = c.TLS.ALPN == "h2"
	default:
		var err error
		if h2, err = inspector.IsH2Preface(c.Reader); err != nil {
			return
		}
	}
	if h2 {
		cm.st.cxHTTP2Total.Inc()
		cm.st.cxHTTP2Active.Inc()
		defer cm.st.cxHTTP2Active.Dec()
		// Handlers write their frames as they make them: a batched
		// connection sends what a scheduling round wrote in one write.
		conn := h2codec.NewBatchedConn(c.Conn)
		hc := h2codec.NewConn(ctx, conn, c.Reader, h2Handler{cm}, &cm.h2)
		cm.track(c.Conn, hc)
		hc.Serve()
		return
	}
	cm.st.cxHTTP1Total.Inc()
	cm.st.cxHTTP1Active.Inc()
	defer cm.st.cxHTTP1Active.Dec()
	cfg := cm.h1
	hc := &h1Conn{cm: cm, c: c, st: cm.streams.Get().(*stream)}
	cfg.ConnContext = func(base context.Context, _ net.Conn) context.Context {
		base = context.WithValue(context.WithValue(base, connKey{}, c), h1ConnKey{}, hc)
		return streaminfo.With(base, &hc.st.info)
	}
	cfg.OnProtocolError = hc.protocolError
	http1.ServeConn(ctx, c.Conn, c.Reader, hc, &cfg)
	if hc.st.reusable {
		cm.streams.Put(hc.st)
	}
}

// Drain makes every response from now on end its connection: HTTP/1
// responses carry "Connection: close"; HTTP/2 connections get a GOAWAY
// and close once their streams are done. Connections still open when the
// drain time has passed are closed.
func (cm *ConnectionManager) Drain() {
	if cm.draining.Swap(true) {
		return
	}
	cm.mu.Lock()
	cm.drainAt = time.Now().Add(cm.drainTime)
	var h2conns []*h2codec.Conn
	for _, hc := range cm.conns {
		if hc != nil {
			h2conns = append(h2conns, hc)
		}
	}
	cm.mu.Unlock()
	// Outside the lock: a GOAWAY may wait behind a peer that reads slowly.
	for _, hc := range h2conns {
		hc.Drain()
	}
	time.AfterFunc(cm.drainTime, func() {
		cm.mu.Lock()
		defer cm.mu.Unlock()
		for c := range cm.conns {
			cm.st.cxDrainClose.Inc()
			c.Close()
		}
	})
}

// track records c and, for HTTP/2, its codec connection (which asks
// cm.draining when a stream opens, so one accepted during a drain goes
// away after its first stream).
func (cm *ConnectionManager) track(c net.Conn, hc *h2codec.Conn) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	cm.conns[c] = hc
}

func (cm *ConnectionManager) untrack(c net.Conn) {
	cm.mu.Lock()
	delete(cm.conns, c)
	cm.mu.Unlock()
}

// terminal ends the chain if the last filter calls next; the router never
// does.
type terminal struct{}

func (terminal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "no terminal filter", http.StatusInternalServerError)
}
