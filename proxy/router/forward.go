package router

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/codec/http2"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/retry"
	"github.com/outrider-mesh/outrider/proxy/route"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// Causes of a forwarding context's cancellation.
var (
	errRouteTimeout  = errors.New("router: route timeout")
	errPerTryTimeout = errors.New("router: per-try timeout")
	errIdleTimeout   = errors.New("router: idle timeout")
)

// exchange is the state of one forwarded request across its tries.
type exchange struct {
	rt    *Router
	w     http.ResponseWriter
	r     *http.Request
	info  *streaminfo.Info
	route *route.Route
	tg    route.Target
	c     *cluster.Cluster
	st    *cluster.Stats

	path      string // :path sent upstream
	authority string
	timeout   time.Duration // route timeout, after request headers; 0: none
	perTry    time.Duration
	pol       *retry.Policy

	// ctx is the downstream request's context when the connection manager
	// can cancel it with a cause (canceler): the router's timeouts end the
	// request's own context instead of a derived one, which would cost a
	// context, its registration in the parent and a channel per request.
	ctx      context.Context
	canceler requestCanceler
	cancelFn context.CancelCauseFunc // of a derived ctx, when there is no canceler
	timer    *routeTimer             // route timeout, armed at the end of the request body (requestReceived)
	idle     *time.Timer
	done     atomic.Bool // the exchange has finished; late timers do nothing
	// url and out are the first try's upstream URL and request (later
	// tries get their own: a transport may still read an abandoned try's
	// request).
	url url.URL
	out http.Request

	hasBody bool
	body    *countingBody
	buf     *retry.Buffer
	// bodyErr is the first error reading the downstream request body
	// (the client left, or broke the body's framing); the transport reads
	// the body on a goroutine of its own.
	bodyErr atomic.Pointer[error]
	// switched: the exchange moved to a cluster that replaced its first
	// one (switchCluster); it moves once.
	switched bool
	// bodyMu orders the request body's bookkeeping with the end of the
	// exchange (a transport may read the body on after it, when the Info
	// already serves another stream) and with the tries' per-try timers.
	bodyMu sync.Mutex
	// received: the whole downstream request has been received (its body
	// has ended, or it has none). Guarded by bodyMu.
	received bool
	// pendingTry is the per-try timer of the try in flight while it waits
	// for the end of the downstream body (pertry.go). Guarded by bodyMu.
	pendingTry *perTryTimer
}

func (rt *Router) forward(w http.ResponseWriter, r *http.Request, info *streaminfo.Info, rte *route.Route) {
	tg := rte.Target(r)
	info.ClusterName = tg.Cluster
	var c *cluster.Cluster
	if tg.Cluster != "" && rt.clusters != nil {
		c = rt.clusters.Get(tg.Cluster)
	}
	if c == nil {
		err := failure.ErrNoCluster
		if rte.ClusterNotFoundStatus != 0 && rte.ClusterNotFoundStatus != err.Status {
			e := *err
			e.Status = rte.ClusterNotFoundStatus
			err = &e
		}
		localReply(w, r, info, err)
		return
	}
	rt.forwardTo(w, r, info, rte, tg, c)
}

// forwardTo forwards to target tg of cluster c.
func (rt *Router) forwardTo(w http.ResponseWriter, r *http.Request, info *streaminfo.Info, rte *route.Route, tg route.Target, c *cluster.Cluster) {
	x := &exchange{rt: rt, w: w, r: r, info: info, route: rte, tg: tg, c: c, st: c.Stats(),
		authority: r.Host, timeout: rte.Timeout, pol: rte.Retry}
	if c, ok := w.(requestCanceler); ok && c.CanCancelRequest() {
		x.ctx, x.canceler = r.Context(), c
	} else {
		x.ctx, x.cancelFn = context.WithCancelCause(r.Context())
	}
	defer x.finish()
	upgrade := info.Upgrade != "" && (rte.Websocket == nil || *rte.Websocket) && isUpgrade(r)
	x.prepareHeaders(upgrade)
	if rte.IdleTimeout > 0 {
		x.idle = time.AfterFunc(rte.IdleTimeout, func() { x.cancel(errIdleTimeout) })
	}
	if upgrade {
		if _, ok := w.(http.Hijacker); ok {
			x.proxyUpgrade()
			return
		}
	}
	x.prepareBody()
	x.run()
}

func (x *exchange) finish() {
	x.bodyMu.Lock()
	x.done.Store(true)
	x.bodyMu.Unlock()
	if x.timer != nil {
		x.timer.release()
	}
	if x.idle != nil {
		x.idle.Stop()
	}
	if x.cancelFn != nil {
		x.cancelFn(nil)
	}
}

// prepareHeaders turns the downstream request's headers into the upstream
// request's, in place: the router is the last to see them.
func (x *exchange) prepareHeaders(upgrade bool) {
	h := x.r.Header
	removeHopByHop(h, upgrade, true)
	delete(h, "Expect") // 100-continue is answered by the downstream codec
	x.pol = x.pol.WithRequestHeaders(h)
	if x.pol != nil {
		x.perTry = x.pol.PerTryTimeout
	}
	if d, ok := headerMillis(h, "X-Envoy-Upstream-Rq-Timeout-Ms"); ok {
		x.timeout = d
	}
	if d, ok := headerMillis(h, "X-Envoy-Upstream-Rq-Per-Try-Timeout-Ms"); ok {
		x.perTry = d
	}
	if x.rt.respectExpectedTimeout {
		if d, ok := headerMillis(h, "X-Envoy-Expected-Rq-Timeout-Ms"); ok {
			x.timeout = d
		}
	}
	expected := x.timeout
	if x.perTry > 0 && (expected == 0 || x.perTry < expected) {
		expected = x.perTry
	}
	if !x.rt.suppressEnvoyHeaders && expected > 0 {
		h["X-Envoy-Expected-Rq-Timeout-Ms"] = millisValue(expected.Milliseconds())
	} else {
		delete(h, "X-Envoy-Expected-Rq-Timeout-Ms")
	}
	x.tg.RequestHeaders.Apply(h, x.info)
	x.path = route.RequestPath(x.r)
	if p, ok := x.route.RewritePath(x.path); ok {
		h["X-Envoy-Original-Path"] = []string{x.path}
		x.path = p
	}
	if x.route.HostRewrite != "" {
		x.authority = x.route.HostRewrite
	}
}

// authorityFor is the upstream :authority; auto_host_rewrite uses the DNS
// name the endpoint was resolved from (DNS clusters only, as in Envoy).
func (x *exchange) authorityFor(host *cluster.Host) string {
	if x.route.AutoHostRewrite {
		if name := host.Hostname(); name != "" {
			return name
		}
	}
	return x.authority
}

// headerMillis reads and removes a milliseconds header.
func headerMillis(h http.Header, name string) (time.Duration, bool) {
	v, ok := h[name]
	if !ok {
		return 0, false
	}
	delete(h, name)
	if len(v) == 0 {
		return 0, false
	}
	ms, err := strconv.ParseUint(v[0], 10, 32)
	if err != nil {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// prepareBody wraps the request body so that the route and per-try
// timeouts start at its end, as Envoy's do, and keeps it for replay when
// retries are possible.
func (x *exchange) prepareBody() {
	b := x.r.Body
	x.hasBody = b != nil && b != http.NoBody && x.r.ContentLength != 0
	if !x.hasBody {
		x.requestReceived()
		return
	}
	x.body = &countingBody{r: b, x: x}
	if x.pol != nil && x.pol.NumRetries > 0 {
		x.buf = retry.NewBuffer(x.body, x.route.BufferLimit)
	}
	if x.r.ProtoMajor == 1 {
		// Stream the response while the request body is still arriving
		// (bidirectional streams); codecs that cannot simply refuse.
		http.NewResponseController(x.w).EnableFullDuplex()
	}
}

func (x *exchange) armTimeout() {
	if x.timeout > 0 {
		x.timer = startRouteTimer(x)
	}
}

// routeTimer is a route timeout's timer, pooled so that a request neither
// allocates a timer nor resets and stops one: the timer stays armed across
// the exchanges that use it in turn, and when it fires it checks the
// deadline of the exchange it now serves, firing again later if that is
// not reached (requests of a route share their timeout, so each deadline
// is later than the last and the timer rarely needs resetting).
type routeTimer struct {
	t   *time.Timer
	mu  sync.Mutex
	x   *exchange // the exchange served; nil when released
	at  int64     // x's deadline (monotime)
	due int64     // when t fires (monotime); 0 when it is not armed
}

var routeTimers = sync.Pool{New: func() any {
	rt := &routeTimer{}
	rt.t = time.AfterFunc(time.Hour, rt.fire)
	rt.t.Stop()
	return rt
}}

func startRouteTimer(x *exchange) *routeTimer {
	rt := routeTimers.Get().(*routeTimer)
	at := monotime() + int64(x.timeout)
	rt.mu.Lock()
	rt.x, rt.at = x, at
	if rt.due == 0 || rt.due > at {
		rt.due = at
		rt.t.Reset(x.timeout)
	}
	rt.mu.Unlock()
	return rt
}

func (rt *routeTimer) fire() {
	rt.mu.Lock()
	rt.due = 0
	x := rt.x
	if x == nil {
		rt.mu.Unlock()
		return
	}
	if left := rt.at - monotime(); left > 0 {
		rt.due = rt.at
		rt.t.Reset(time.Duration(left))
		rt.mu.Unlock()
		return
	}
	rt.x = nil
	rt.mu.Unlock()
	x.cancel(errRouteTimeout)
}

// stop ends the timeout of the exchange served; release does and returns
// the timer to the pool.
func (rt *routeTimer) stop() {
	rt.mu.Lock()
	rt.x = nil
	rt.mu.Unlock()
}

func (rt *routeTimer) release() {
	rt.stop()
	routeTimers.Put(rt)
}

// epoch anchors monotime.
var epoch = time.Now()

// monotime is a monotonic clock reading in nanoseconds.
func monotime() int64 { return int64(time.Since(epoch)) }

// millisValue is a header value of ms milliseconds. The last one is kept:
// the requests of a route share their timeout, so the value (a slice no
// one changes in place, header mutations replace values) is shared too.
func millisValue(ms int64) []string {
	if ms >= 0 && ms < int64(len(smallMillis)) {
		return smallMillis[ms]
	}
	if v := lastMillis.Load(); v != nil && v.ms == ms {
		return v.value
	}
	v := &millisHeader{ms: ms, value: []string{strconv.FormatInt(ms, 10)}}
	lastMillis.Store(v)
	return v.value
}

type millisHeader struct {
	ms    int64
	value []string
}

var lastMillis atomic.Pointer[millisHeader]

// smallMillis are the values of x-envoy-upstream-service-time that most
// responses get.
var smallMillis = func() (t [128][]string) {
	for i := range t {
		t[i] = []string{strconv.Itoa(i)}
	}
	return t
}()

func (x *exchange) touch() {
	if x.idle != nil {
		x.idle.Reset(x.route.IdleTimeout)
	}
}

// countingBody is the downstream request body: it counts bytes and, at
// its end, starts the route and per-try timeouts (requestReceived).
type countingBody struct {
	r io.ReadCloser
	x *exchange
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.x.bodyMu.Lock()
	defer b.x.bodyMu.Unlock()
	if b.x.done.Load() {
		// A transport may still read after the exchange ended; the Info
		// may already serve another stream.
		return n, err
	}
	b.x.info.UpstreamBytesSent.Add(uint64(n))
	b.x.touch()
	switch {
	case err == io.EOF:
		b.x.requestReceived()
	case err != nil:
		b.x.bodyErr.CompareAndSwap(nil, &err)
	}
	return n, err
}

func (b *countingBody) Close() error { return nil } // the server closes the request body

// Buffered passes on what the downstream body knows (http2.BufferedBody):
// the upstream HTTP/2 client sends a complete body without a goroutine.
func (b *countingBody) Buffered() (int, bool) {
	if bb, ok := b.r.(http2.BufferedBody); ok {
		return bb.Buffered()
	}
	return 0, false
}
