// Package upstream holds the transport side of a cluster: dialing upstream
// TCP connections with connect_timeout and upstream_bind_config, and per
// endpoint connection pools speaking HTTP/1.1 (proxy/codec/http1) or
// HTTP/2 (proxy/codec/http2's client: several streams per connection), with
// Envoy's circuit breakers for connections and pending requests and its
// upstream_cx_* / upstream_rq_pending_* stats.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider-mesh/outrider/proxy/codec/http1"
	"github.com/outrider-mesh/outrider/proxy/failure"
)

// Protocol is an upstream HTTP protocol.
type Protocol uint8

const (
	HTTP1 Protocol = iota + 1
	HTTP2
)

// Options are a cluster's HTTP protocol options
// (envoy.extensions.upstreams.http.v3.HttpProtocolOptions), translated.
type Options struct {
	// Protocol is the explicit protocol; zero means HTTP/1.1, Envoy's
	// default.
	Protocol Protocol
	// UseDownstream speaks the downstream request's protocol
	// (use_downstream_protocol_config).
	UseDownstream bool
	// IdleTimeout closes a connection that has carried no request for this
	// long (common_http_protocol_options.idle_timeout); zero disables it.
	IdleTimeout time.Duration
	// MaxRequestsPerConn retires a connection after that many requests
	// (max_requests_per_connection); zero means no limit.
	MaxRequestsPerConn uint32
	// MaxResponseHeaderBytes bounds response headers; zero means 60 KiB.
	MaxResponseHeaderBytes int
	// PreserveCase is HTTP/1.1 header_key_format preserve_case: request
	// header names keep the case the listener recorded (see
	// http1.HeaderCaseFrom), response header names have theirs recorded
	// (ResponseHeaderCase). When false, names are written canonically.
	PreserveCase bool
}

// Pool is the connection pool of one endpoint. It is safe for concurrent
// use; its lock is held only to take or return a connection.
type Pool struct {
	addr   netip.AddrPort
	dialer *Dialer
	opts   *Options
	limits Limits
	stats  *Stats

	// auto is the protocol learned by ALPN for Protocol Auto (0: not yet);
	// learnMu lets one request learn it while the others wait.
	auto    atomic.Uint32
	learnMu sync.Mutex

	// Host counts this endpoint's connections and requests. The endpoint
	// owns them: they outlive a pool made on demand.
	Host *HostStats

	mu        sync.Mutex
	idle      []*h1Conn // HTTP/1.1 connections waiting for a request, most recent last
	h2        []*h2Conn
	h2Dialing bool
	h2DialGen uint64        // dials finished
	h2DialErr error         // how the last dial failed, nil if it succeeded
	changed   chan struct{} // closed whenever capacity may have appeared; nil until a request waits
	watchers  atomic.Int32  // requests holding changed; incremented under mu
	closed    bool
}

// Limits are the cluster-wide request thresholds a pool enforces; nil
// means unlimited. max_connections is the Dialer's.
type Limits struct {
	Pending  *Limit // max_pending_requests: requests waiting for a connection
	Requests *Limit // max_requests: requests in flight
}

// NewPool returns an empty pool for addr, counting into host (a new
// HostStats if nil). It allocates nothing else until the first request.
func NewPool(addr netip.AddrPort, d *Dialer, opts *Options, lim Limits, host *HostStats) *Pool {
	if host == nil {
		host = new(HostStats)
	}
	return &Pool{addr: addr, dialer: d, opts: opts, limits: lim, stats: d.Stats, Host: host}
}

// Addr is the endpoint's address.
func (p *Pool) Addr() netip.AddrPort { return p.addr }

// ProtocolFor is the protocol a request will be sent with.
func (p *Pool) ProtocolFor(req *http.Request) Protocol {
	if p.opts.UseDownstream {
		if req.ProtoMajor == 2 {
			return HTTP2
		}
		return HTTP1
	}
	if p.opts.Protocol == 0 {
		return HTTP1
	}
	if p.opts.Protocol == Auto {
		return Protocol(p.auto.Load()) // 0 until learned; see protocol
	}
	return p.opts.Protocol
}

// RoundTrip sends req on a pooled connection and returns the response
// headers; the body streams. Closing the response body ends the request.
// On HTTP/1.1 the response's Header is valid until its body is closed or
// read to its end (the connection's next response reuses the map; the
// value slices stay valid): copy it first, as the router does.
// req.URL must carry the scheme ("http") and req.Host the authority.
// Waiting for a connection counts as a pending request; beyond
// max_pending_requests the request fails with failure.ErrOverflow.
func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	if r := p.limits.Requests; r != nil && !r.TryAcquire() {
		// Envoy counts max_requests overflows as pending overflows too.
		p.stats.RqPendingOverflow.Inc()
		return nil, failure.ErrOverflow.With(fmt.Errorf("upstream: max_requests (%d) reached", r.Max()))
	}
	p.Host.RqTotal.Add(1)
	p.Host.RqActive.Add(1)
	var (
		resp *http.Response
		err  error
	)
	proto, err := p.protocol(req)
	switch {
	case err != nil:
	case proto == HTTP2:
		resp, err = p.roundTripH2(req)
	default:
		resp, err = p.roundTripH1(req)
	}
	if err != nil {
		p.requestDone()
		return nil, err
	}
	body := &doneBody{ReadCloser: resp.Body, pool: p}
	if proto != HTTP2 {
		body.h1 = true
		body.hc = http1.ResponseHeaderCase(resp) // before resp.Body is replaced
	}
	resp.Body = body
	return resp, nil
}

// ResponseHeaderCase is the case in which an HTTP/1.1 upstream wrote the
// header names of resp, when the cluster preserves case (or the request
// carried a recorded case); nil otherwise. Pass it to http1.SetHeaderCase
// on the downstream response writer.
func ResponseHeaderCase(resp *http.Response) http1.HeaderCase {
	if b, ok := resp.Body.(*doneBody); ok {
		return b.hc
	}
	return nil
}

func (p *Pool) requestDone() {
	if r := p.limits.Requests; r != nil {
		r.Release()
	}
	p.Host.RqActive.Add(-1)
	p.signal()
}

// signal wakes every request waiting for capacity so that each looks again.
func (p *Pool) signal() {
	p.mu.Lock()
	p.signalLocked()
	p.mu.Unlock()
}

func (p *Pool) signalLocked() {
	if p.watchers.Load() == 0 || p.changed == nil {
		return // nobody waits: spare the channel allocation
	}
	close(p.changed)
	p.changed = nil // the next watcher makes a new one
}

// watchLocked returns the channel that the next change closes; the
// caller must call unwatch once it no longer waits on it.
func (p *Pool) watchLocked() <-chan struct{} {
	p.watchers.Add(1)
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

func (p *Pool) unwatch() { p.watchers.Add(-1) }

// pendingTicket tracks one request's stay in the pending queue.
type pendingTicket struct {
	p    *Pool
	held bool
}

func (t *pendingTicket) enter() error {
	if t.held {
		return nil
	}
	if pl := t.p.limits.Pending; pl != nil && !pl.TryAcquire() {
		t.p.stats.RqPendingOverflow.Inc()
		return failure.ErrOverflow.With(fmt.Errorf("upstream: max_pending_requests (%d) reached", pl.Max()))
	}
	t.held = true
	t.p.stats.RqPendingTotal.Inc()
	t.p.stats.RqPendingActive.Inc()
	return nil
}

func (t *pendingTicket) leave() {
	if !t.held {
		return
	}
	t.held = false
	if pl := t.p.limits.Pending; pl != nil {
		pl.Release()
	}
	t.p.stats.RqPendingActive.Dec()
}

// ErrPoolClosed is the cause of the failure of a request sent to a pool
// that was drained meanwhile: its cluster was removed or replaced by a
// reload between the pick of the endpoint and the send.
var ErrPoolClosed = errors.New("upstream: pool closed")

func (p *Pool) wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("upstream: waiting for a connection to %s: %w", p.addr, ctx.Err())
	}
}

// overflowRecheck is how often a request blocked by max_connections looks
// again: the threshold is shared by every endpoint of the cluster, so a
// connection closing in another pool does not wake this one.
const overflowRecheck = 20 * time.Millisecond

// waitForConnection waits for this pool to change or for overflowRecheck.
func (p *Pool) waitForConnection(ctx context.Context, ch <-chan struct{}) error {
	t := time.NewTimer(overflowRecheck)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("upstream: waiting for a connection to %s: %w", p.addr, ctx.Err())
	}
}

// Drain stops the pool from taking new requests, closes its idle
// connections and lets active ones finish; a removed cluster's pools are
// drained.
func (p *Pool) Drain() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	h2 := p.h2
	p.h2 = nil
	p.signalLocked()
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
	for _, c := range h2 {
		c.cc.Shutdown() // closes once its active streams are done
	}
}

// CloseIdle closes idle connections and keeps the pool usable.
func (p *Pool) CloseIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// Idle reports whether the pool has no request in flight.
func (p *Pool) Idle() bool { return p.Host.RqActive.Load() == 0 }

// doneBody ends its request once, when the body is closed or read to the
// end: pool.requestDone, or done when set.
type doneBody struct {
	io.ReadCloser
	ended atomic.Bool
	pool  *Pool
	done  func()
	h1    bool             // read errors are the HTTP/1 codec's: map them (h1BodyError)
	hc    http1.HeaderCase // the response's header case, if recorded
}

func (b *doneBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if err != nil {
		b.end()
		if b.h1 {
			err = b.pool.h1BodyError(err)
		}
	}
	return n, err
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.end()
	return err
}

func (b *doneBody) end() {
	if b.ended.Swap(true) {
		return
	}
	if b.done != nil {
		b.done()
		return
	}
	b.pool.requestDone()
}
