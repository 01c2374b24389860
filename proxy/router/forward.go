package router

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider-mesh/outrider/proxy/cluster"
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

	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer // route timeout, armed at the end of the request body
	armed  sync.Once
	idle   *time.Timer
	done   atomic.Bool // the exchange has finished; late timers do nothing

	hasBody bool
	body    *countingBody
	buf     *retry.Buffer
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
	x := &exchange{rt: rt, w: w, r: r, info: info, route: rte, tg: tg, c: c, st: c.Stats(),
		authority: r.Host, timeout: rte.Timeout, pol: rte.Retry}
	x.ctx, x.cancel = context.WithCancelCause(r.Context())
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
	x.done.Store(true)
	if x.timer != nil {
		x.timer.Stop()
	}
	if x.idle != nil {
		x.idle.Stop()
	}
	x.cancel(nil)
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
		h["X-Envoy-Expected-Rq-Timeout-Ms"] = []string{strconv.FormatInt(expected.Milliseconds(), 10)}
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

// prepareBody wraps the request body so that the route timeout starts at
// its end, as Envoy's does, and keeps it for replay when retries are
// possible.
func (x *exchange) prepareBody() {
	b := x.r.Body
	x.hasBody = b != nil && b != http.NoBody && x.r.ContentLength != 0
	if !x.hasBody {
		x.armTimeout()
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
	if x.timeout <= 0 {
		return
	}
	x.armed.Do(func() {
		x.timer = time.AfterFunc(x.timeout, func() { x.cancel(errRouteTimeout) })
	})
}

func (x *exchange) touch() {
	if x.idle != nil {
		x.idle.Reset(x.route.IdleTimeout)
	}
}

// countingBody is the downstream request body: it counts bytes and arms
// the route timeout at its end.
type countingBody struct {
	r io.ReadCloser
	x *exchange
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.x.info.UpstreamBytesSent.Add(uint64(n))
	b.x.touch()
	if err == io.EOF {
		b.x.armTimeout()
	}
	return n, err
}

func (b *countingBody) Close() error { return nil } // the server closes the request body

// run makes tries until one gives a response to forward or the retries
// are spent, then answers.
func (x *exchange) lbContext() cluster.LBContext {
	lb := cluster.LBContext{OriginalDst: x.info.DownstreamLocal}
	if x.pol != nil && x.pol.AvoidPreviousHosts {
		lb.SelectionRetries = x.pol.HostSelectionRetries
	}
	return lb
}

func (x *exchange) run() {
	lb := x.lbContext()
	avoid := x.pol != nil && x.pol.AvoidPreviousHosts
	for attempt := 1; ; attempt++ {
		host, err := x.c.Pick(&lb)
		if err != nil {
			localReply(x.w, x.r, x.info, err)
			return
		}
		if avoid {
			lb.Previous = append(lb.Previous, host)
		}
		x.info.UpstreamHost = host.Address().String()
		x.info.Attempts = attempt
		start := time.Now()
		resp, err := x.try(host, attempt)
		if attempt > 1 {
			x.c.RetryLimit().Release()
		}
		if err != nil {
			if x.downstreamGone(err) {
				return
			}
			if x.retry(attempt, x.pol != nil && x.pol.RetryError(err)) {
				if x.backoff(attempt) {
					continue
				}
				x.interrupted(host)
				return
			}
			x.replyError(err, host)
			return
		}
		x.st.RecordStatus(resp.StatusCode)
		if x.pol != nil && x.pol.RetryResponse(resp.StatusCode, resp.Header) {
			if x.retry(attempt, true) {
				resp.Body.Close()
				x.st.RqActive.Dec()
				if x.backoff(attempt) {
					continue
				}
				x.interrupted(host)
				return
			}
		} else if attempt > 1 {
			x.st.RqRetrySuccess.Inc()
		}
		x.respond(resp, host, start, attempt)
		return
	}
}

// try sends the request once. Its per-try timeout runs until the response
// headers arrive.
func (x *exchange) try(host *cluster.Host, attempt int) (*http.Response, error) {
	ctx, cancel := x.ctx, context.CancelCauseFunc(nil)
	var perTry *time.Timer
	if x.perTry > 0 {
		ctx, cancel = context.WithCancelCause(x.ctx)
		perTry = time.AfterFunc(x.perTry, func() { cancel(errPerTryTimeout) })
	}
	body := io.ReadCloser(http.NoBody)
	switch {
	case x.buf != nil:
		body = x.buf.Try()
	case x.hasBody && attempt == 1:
		body = x.body
	}
	if x.route.IncludeAttemptCount {
		x.r.Header["X-Envoy-Attempt-Count"] = []string{strconv.Itoa(attempt)}
	}
	out := outRequest(ctx, x.r, x.path, x.authorityFor(host), body)
	x.st.RqTotal.Inc()
	x.st.RqActive.Inc()
	resp, err := host.Pool().RoundTrip(out)
	if perTry != nil && !perTry.Stop() && err == nil {
		// The timer fired as the headers arrived: the try is over anyway.
		resp.Body.Close()
		resp, err = nil, errPerTryTimeout
	}
	if err != nil {
		x.st.RqActive.Dec()
		if cancel != nil {
			cancel(nil)
		}
		return nil, x.classify(ctx, err, host)
	}
	return resp, nil
}

// classify names a failed try by what really ended it.
func (x *exchange) classify(tryCtx context.Context, err error, host *cluster.Host) error {
	switch cause := context.Cause(x.ctx); {
	case errors.Is(cause, errRouteTimeout):
		return failure.ErrUpstreamTimeout.With(err)
	case errors.Is(cause, errIdleTimeout):
		return failure.ErrStreamIdleTimeout.With(err)
	case x.r.Context().Err() != nil:
		return failure.ErrDownstreamDisconnect.With(err)
	}
	if errors.Is(context.Cause(tryCtx), errPerTryTimeout) || errors.Is(err, errPerTryTimeout) {
		x.st.RqPerTryTimeout.Inc()
		host.Stats().RqTimeout.Add(1)
		return failure.ErrPerTryTimeout.With(err)
	}
	var fe *failure.Error
	if !errors.As(err, &fe) {
		return failure.ErrUpstreamTermination.With(err)
	}
	return err
}

func (x *exchange) downstreamGone(err error) bool {
	if !errors.Is(err, failure.ErrDownstreamDisconnect) {
		return false
	}
	x.info.AddFlag(failure.DownstreamConnectionTermination)
	x.info.ResponseCodeDetails = failure.ErrDownstreamDisconnect.Details
	x.st.RqCancelled.Inc()
	return true
}

// retry decides whether a retriable outcome of try attempt is retried; a
// yes holds a unit of the max_retries breaker until the retry ends.
func (x *exchange) retry(attempt int, retriable bool) bool {
	if !retriable {
		return false
	}
	if uint32(attempt) > x.pol.NumRetries {
		x.info.AddFlag(failure.UpstreamRetryLimitExceeded)
		x.st.RqRetryLimitExceeded.Inc()
		return false
	}
	if x.hasBody && (x.buf == nil || !x.buf.Replayable()) {
		return false // the body is gone: it cannot be sent again
	}
	if !x.c.RetryLimit().TryAcquire() {
		x.st.RqRetryOverflow.Inc()
		return false
	}
	x.st.RqRetry.Inc()
	return true
}

// backoff waits before the retry that follows try attempt; false when the
// request ended meanwhile.
func (x *exchange) backoff(attempt int) bool {
	x.st.RqRetryBackoff.Inc()
	t := time.NewTimer(x.pol.Backoff(attempt))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-x.ctx.Done():
		x.c.RetryLimit().Release()
		return false
	}
}

// interrupted answers a request whose back-off was cut short by the route
// timeout, the idle timeout or the client leaving.
func (x *exchange) interrupted(host *cluster.Host) {
	err := x.classify(x.ctx, x.ctx.Err(), host)
	if x.downstreamGone(err) {
		return
	}
	x.replyError(err, host)
}

// replyError answers a request whose last try failed.
func (x *exchange) replyError(err error, host *cluster.Host) {
	switch {
	case errors.Is(err, failure.ErrUpstreamTimeout):
		x.st.RqTimeout.Inc()
		host.Stats().RqTimeout.Add(1)
	case errors.Is(err, failure.ErrUpstreamReset), errors.Is(err, failure.ErrUpstreamTermination),
		errors.Is(err, failure.ErrRefusedStream):
		x.st.RqRxReset.Inc()
	}
	if !errors.Is(err, failure.ErrOverflow) && !errors.Is(err, failure.ErrNoHealthyUpstream) {
		host.Stats().RqError.Add(1)
	}
	if x.ctx.Err() != nil && !errors.Is(err, failure.ErrUpstreamTimeout) && !errors.Is(err, failure.ErrStreamIdleTimeout) {
		if x.r.Context().Err() != nil {
			x.downstreamGone(failure.ErrDownstreamDisconnect)
			return
		}
	}
	localReply(x.w, x.r, x.info, err)
}
