package router

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/codec/http1"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/upstream"
)

func (x *exchange) lbContext() cluster.LBContext {
	lb := cluster.LBContext{OriginalDst: x.info.DownstreamLocal}
	if x.pol != nil && x.pol.AvoidPreviousHosts {
		lb.SelectionRetries = x.pol.HostSelectionRetries
	}
	return lb
}

// run makes tries until one gives a response to forward or the retries
// are spent, then answers.
func (x *exchange) run() {
	lb := x.lbContext()
	avoid := x.pol != nil && x.pol.AvoidPreviousHosts
	for attempt := 1; ; attempt++ {
		host, err := x.c.Pick(&lb)
		if err != nil {
			if attempt > 1 {
				x.c.RetryLimit().Release()
			}
			localReply(x.w, x.r, x.info, err)
			return
		}
		if avoid {
			lb.Previous = append(lb.Previous, host)
		}
		x.info.UpstreamHost = host.String()
		x.info.Attempts = attempt
		start := time.Now()
		resp, err := x.try(host, attempt)
		if err != nil && attempt == 1 && x.switchCluster(err) {
			attempt, lb = 0, x.lbContext() // the first try again, on the new cluster
			continue
		}
		if attempt > 1 {
			x.c.RetryLimit().Release()
		}
		if err != nil {
			if x.downstreamGone(err) || x.downstreamBroke(err) {
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

// switchCluster moves the exchange to the cluster that replaced x.c when
// a reload drained x.c's pools between the pick and the send, so that the
// request is not failed for a swap it could not see. Only the first try
// moves (a retry holds a unit of the old cluster's max_retries).
func (x *exchange) switchCluster(err error) bool {
	if x.switched || x.rt.clusters == nil || !errors.Is(err, upstream.ErrPoolClosed) {
		return false
	}
	c := x.rt.clusters.Get(x.tg.Cluster)
	if c == nil || c == x.c {
		return false
	}
	x.switched = true
	x.c, x.st = c, c.Stats()
	return true
}

// try sends the request once. Its per-try timeout runs from the end of
// the downstream request (or the try's start, when that came earlier)
// until the response headers arrive: see perTryTimer.
func (x *exchange) try(host *cluster.Host, attempt int) (*http.Response, error) {
	ctx, cancel := x.ctx, context.CancelCauseFunc(nil)
	var perTry *perTryTimer
	if x.perTry > 0 {
		ctx, cancel = context.WithCancelCause(x.ctx)
		perTry = x.startPerTry(cancel)
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
	u, out := &x.url, &x.out
	if attempt > 1 {
		u, out = new(url.URL), new(http.Request)
	}
	outRequest(out, ctx, x.r, u, x.path, x.authorityFor(host), body)
	x.st.RqTotal.Inc()
	x.st.RqActive.Inc()
	resp, err := host.Pool().RoundTrip(out)
	if perTry != nil && !x.stopPerTry(perTry) && err == nil {
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
	var fe *failure.Error
	switch cause := context.Cause(x.ctx); {
	case errors.Is(cause, errRouteTimeout):
		return failure.ErrUpstreamTimeout.With(err)
	case errors.Is(cause, errIdleTimeout):
		return failure.ErrStreamIdleTimeout.With(err)
	case x.downstreamEnded() && errors.As(cause, &fe):
		// The connection manager ended the stream (its stream idle or
		// request timeout) and answers it itself.
		return fe.With(err)
	case x.downstreamEnded():
		return failure.ErrDownstreamDisconnect.With(err)
	}
	if derr := x.bodyErr.Load(); derr != nil {
		return downstreamFailure(*derr)
	}
	if errors.Is(context.Cause(tryCtx), errPerTryTimeout) || errors.Is(err, errPerTryTimeout) {
		x.st.RqPerTryTimeout.Inc()
		host.Stats().RqTimeout.Add(1)
		return failure.ErrPerTryTimeout.With(err)
	}
	if !errors.As(err, &fe) {
		return failure.ErrUpstreamTermination.With(err)
	}
	return err
}

// downstreamFailure is the failure a downstream request body read error
// means: bad framing (a *http1.ProtocolError from the codec) is a
// downstream protocol error, anything else a disconnect.
func downstreamFailure(err error) *failure.Error {
	var pe *http1.ProtocolError
	if errors.As(err, &pe) {
		return failure.ErrDownstreamProtocol.With(err)
	}
	return failure.ErrDownstreamDisconnect.With(err)
}

// downstreamBroke answers a request whose body broke its framing: 400 with
// the DPE flag and the codec's details. Nothing was sent downstream yet;
// the upstream request was abandoned (reset locally).
func (x *exchange) downstreamBroke(err error) bool {
	if !errors.Is(err, failure.ErrDownstreamProtocol) {
		return false
	}
	x.st.RqTxReset.Inc()
	if x.r.ProtoMajor == 1 {
		// The rest of the connection cannot be trusted to frame requests.
		x.w.Header().Set("Connection", "close")
	}
	localReply(x.w, x.r, x.info, err)
	var pe *http1.ProtocolError
	if errors.As(err, &pe) {
		x.info.ResponseCodeDetails = pe.Details
	}
	return true
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
	if x.downstreamEnded() {
		// The stream is over: the client left, or the connection manager
		// answered it itself (its timeouts). Nobody is left to answer.
		var fe *failure.Error
		if errors.As(context.Cause(x.r.Context()), &fe) {
			x.info.AddFlag(fe.Flag)
			return
		}
		x.downstreamGone(failure.ErrDownstreamDisconnect)
		return
	}
	localReply(x.w, x.r, x.info, err)
}
