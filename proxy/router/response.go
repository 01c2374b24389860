package router

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/codec/http1"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/upstream"
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// respond forwards the upstream response: headers at once, then the body
// chunk by chunk with a flush after each (gRPC streams rely on it), then
// the trailers.
func (x *exchange) respond(resp *http.Response, host *cluster.Host, start time.Time, attempt int) {
	st, info := x.st, x.info
	defer resp.Body.Close()
	info.FirstUpstreamRxByte = time.Since(info.Start)
	dh := x.w.Header()
	for k, v := range resp.Header {
		dh[k] = v
	}
	removeHopByHop(dh, false, false)
	x.tg.ResponseHeaders.Apply(dh, info)
	if !x.rt.suppressEnvoyHeaders {
		dh["X-Envoy-Upstream-Service-Time"] = millisValue(time.Since(start).Milliseconds())
	}
	if x.route.IncludeAttemptCountInResponse {
		dh["X-Envoy-Attempt-Count"] = []string{strconv.Itoa(attempt)}
	}
	info.ResponseCode = resp.StatusCode
	info.ResponseHeader = dh
	if info.ResponseCodeDetails == "" {
		info.ResponseCodeDetails = "via_upstream"
	}
	if hc := upstream.ResponseHeaderCase(resp); hc != nil {
		// header_key_format preserve_case: the client sees the names as
		// the upstream wrote them (when the listener preserves case too).
		http1.SetHeaderCase(x.w, hc)
	}
	x.w.WriteHeader(resp.StatusCode)
	flusher, _ := x.w.(http.Flusher)
	if resp.ContentLength < 0 && flusher != nil {
		flusher.Flush() // a stream: let the client see the headers now
	}

	ok := x.copyBody(resp, flusher)
	st.RqActive.Dec()
	st.RqTime.Record(uint64(time.Since(start).Milliseconds()))
	if resp.StatusCode >= 500 {
		host.Stats().RqError.Add(1)
	} else {
		host.Stats().RqSuccess.Add(1)
	}
	if !ok {
		// The response cannot be finished: reset the downstream stream
		// rather than let a truncated body look complete.
		panic(http.ErrAbortHandler)
	}
	st.RqCompleted.Inc()
	for k, v := range resp.Trailer {
		dh[http.TrailerPrefix+k] = v
	}
	info.ResponseTrailer = resp.Trailer
}

// copyBody streams the response body downstream and reports whether it
// was copied to its end.
func (x *exchange) copyBody(resp *http.Response, flusher http.Flusher) bool {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			x.info.UpstreamBytesRecv.Add(uint64(n))
			x.touch()
			if _, werr := x.w.Write(buf[:n]); werr != nil {
				x.downstreamGone(failure.ErrDownstreamDisconnect)
				return false
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err == io.EOF {
			return true
		}
		if err != nil {
			x.bodyFailed(err)
			return false
		}
	}
}

// bodyFailed records why a response body ended early. The response has
// started, so the downstream stream is reset rather than answered.
func (x *exchange) bodyFailed(err error) {
	cause := context.Cause(x.ctx)
	var fe *failure.Error
	switch {
	case errors.Is(cause, errRouteTimeout):
		x.info.AddFlag(failure.UpstreamRequestTimeout)
		x.st.RqTimeout.Inc()
	case errors.Is(cause, errIdleTimeout):
		x.info.AddFlag(failure.StreamIdleTimeout)
	case x.downstreamEnded() && errors.As(cause, &fe):
		x.info.AddFlag(fe.Flag) // the connection manager's timeout
	case x.downstreamEnded():
		x.downstreamGone(failure.ErrDownstreamDisconnect)
	case x.bodyErr.Load() != nil:
		// The request body failed while the response streamed (full
		// duplex), and the upstream exchange with it.
		df := downstreamFailure(*x.bodyErr.Load())
		if x.downstreamGone(df) {
			return
		}
		x.info.AddFlag(df.Flag)
		var pe *http1.ProtocolError
		if errors.As(df, &pe) {
			x.info.ResponseCodeDetails = pe.Details
		}
		x.st.RqTxReset.Inc()
	case errors.As(err, &fe):
		// An HTTP/1.1 upstream broke the body's framing (UPE) or closed
		// the connection before its end (UC).
		x.info.AddFlag(fe.Flag)
		x.info.UpstreamTransportFailureReason = err.Error()
		x.st.RqRxReset.Inc()
	default:
		x.info.AddFlag(failure.UpstreamRemoteReset)
		x.info.UpstreamTransportFailureReason = err.Error()
		x.st.RqRxReset.Inc()
	}
}
