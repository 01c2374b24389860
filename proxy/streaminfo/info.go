// Package streaminfo records what happened to one downstream request or TCP
// connection, for access logs, stats and the filters that follow. One Info
// lives per stream; it is written by the stage that learns a fact and read
// at the end by the access loggers.
package streaminfo

import (
	"context"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/outrider-mesh/outrider/proxy/failure"
)

// Info is the record of one stream. Fields are written by one goroutine at a
// time (the stream's own); counters that the upstream copy loop and the
// downstream writer update concurrently are atomic.
type Info struct {
	Start time.Time // when the first byte of the request arrived

	// Downstream connection.
	Protocol            string         // "HTTP/1.0", "HTTP/1.1", "HTTP/2"; "" for TCP
	DownstreamLocal     netip.AddrPort // address the connection was accepted on (original destination when redirected)
	DownstreamRemote    netip.AddrPort // peer, or the address trusted from x-forwarded-for
	DownstreamDirect    netip.AddrPort // the peer of the socket itself
	RequestedServerName string         // SNI seen by tls_inspector
	// DownstreamTLS is the downstream connection's TLS session (nil for
	// plaintext); see also Downstream, which falls back to the request's
	// context.
	DownstreamTLS   *TLS
	ListenerName    string
	FilterChainName string

	// Request.
	Request   *http.Request // the request as the filters see it; nil for TCP
	RequestID string        // x-request-id
	// Upgrade is the upgrade the connection manager allows for this
	// request ("websocket", from upgrade_configs); "" when the request asks
	// for none. The router proxies the upgraded stream only when it is set.
	Upgrade string

	// Routing.
	RouteName   string
	ClusterName string
	Route       any // the matched *route.Route, set by the connection manager; nil when no route matched

	// Upstream.
	UpstreamHost                   string // "ip:port" of the last attempt's endpoint
	UpstreamLocal                  string // local address of the upstream connection
	UpstreamTransportFailureReason string
	UpstreamTLS                    *TLS // the last attempt's upstream TLS session, nil for plaintext
	Attempts                       int  // upstream attempts made (1 + retries)

	// Response.
	ResponseCode          int
	ResponseCodeDetails   string
	ResponseHeader        http.Header
	ResponseTrailer       http.Header
	Flags                 failure.Flags
	ConnectionTermination string

	// Byte counts and timings; see the access-log operators of the same names.
	BytesReceived       atomic.Uint64 // request body bytes (TCP: bytes from downstream)
	BytesSent           atomic.Uint64 // response body bytes (TCP: bytes to downstream)
	UpstreamBytesSent   atomic.Uint64
	UpstreamBytesRecv   atomic.Uint64
	RequestComplete     time.Duration // since Start: last request byte received
	FirstUpstreamRxByte time.Duration // since Start: upstream response headers arrived
	ResponseComplete    time.Duration // since Start: last response byte sent downstream
}

// AddFlag records a response flag.
func (i *Info) AddFlag(f failure.Flags) { i.Flags |= f }

// Duration is the time since the stream started, as %DURATION% reports it.
func (i *Info) Duration() time.Duration {
	if i.ResponseComplete > 0 {
		return i.ResponseComplete
	}
	return time.Since(i.Start)
}

type ctxKey struct{}

// With returns ctx carrying info.
func With(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, ctxKey{}, info)
}

// Attach makes a context that can carry one value of its own (a codec's
// per-stream context, say) carry info, so that no context is derived for
// it: set is called with the key From looks for.
func Attach(set func(key, val any), info *Info) { set(ctxKey{}, info) }

// From returns the Info carried by ctx, or nil.
func From(ctx context.Context) *Info {
	info, _ := ctx.Value(ctxKey{}).(*Info)
	return info
}
