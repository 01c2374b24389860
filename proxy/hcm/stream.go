package hcm

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider-mesh/outrider/proxy/codec/http1"
	h2codec "github.com/outrider-mesh/outrider/proxy/codec/http2"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/route"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// stream is the per-request state, pooled: the Info, the response writer
// and body wrappers, and the timers of stream_idle_timeout and
// request_timeout.
type stream struct {
	cm   *ConnectionManager
	info streaminfo.Info
	rw   responseWriter
	body requestBody

	mu       sync.Mutex // serialises writes with the timeout path
	done     bool       // the handler returned
	timedOut *failure.Error
	// cancel ends the request's context with a cause: the context the
	// manager derived, or (cancel nil) the codec's own, through codecW.
	cancel   context.CancelCauseFunc
	codecW   requestCanceler // the codec's writer, when its context carries the Info
	idle     *time.Timer
	whole    *time.Timer
	reusable bool    // no timer callback can still be running
	h1       *h1Conn // nil for HTTP/2
	// bodyErr is a framing error in the request body (bad chunking),
	// seen by whichever filter read the body.
	bodyErr atomic.Pointer[http1.ProtocolError]
	// expiring is a timeout that fired while a write held mu (expire):
	// the write, ended by its deadline, records it (responseWriter).
	expiring atomic.Pointer[failure.Error]
}

func newStream(cm *ConnectionManager) *stream {
	st := &stream{cm: cm, reusable: true}
	st.rw.st = st
	st.body.st = st
	if cm.s.streamIdleTimeout > 0 {
		st.idle = time.AfterFunc(time.Hour, func() { st.expire(failure.ErrStreamIdleTimeout) })
		st.idle.Stop()
	}
	if cm.s.requestTimeout > 0 {
		st.whole = time.AfterFunc(time.Hour, func() { st.expire(failure.ErrRequestTimeout) })
		st.whole.Stop()
	}
	return st
}

// ServeHTTP runs one request through the filter chain. HTTP/2 requests
// come here, each with a stream of its own; HTTP/1 requests come through
// their connection's h1Conn.
func (cm *ConnectionManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := cm.streams.Get().(*stream)
	defer func() {
		// A timer that had already fired may still be running its
		// callback: such a stream is not reused.
		if st.reusable {
			cm.streams.Put(st)
		}
	}()
	hc, _ := r.Context().Value(h1ConnKey{}).(*h1Conn)
	cm.serve(st, w, r, hc)
}

// serve runs one request on st. hc is the HTTP/1 connection the request
// came on, nil for HTTP/2.
func (cm *ConnectionManager) serve(st *stream, w http.ResponseWriter, r *http.Request, hc *h1Conn) {
	info := &st.info
	*info = streaminfo.Info{}
	st.done, st.timedOut = false, nil
	st.bodyErr.Store(nil)
	st.expiring.Store(nil)
	st.h1 = hc
	info.Start = time.Now()
	info.Protocol = r.Proto
	if r.ProtoMajor == 2 {
		info.Protocol = "HTTP/2"
		cm.st.rqHTTP2Total.Inc()
	} else {
		cm.st.rqHTTP1Total.Inc()
	}
	cm.st.rqTotal.Inc()
	cm.st.rqActive.Inc()
	defer cm.st.rqActive.Dec()
	c, _ := r.Context().Value(connKey{}).(*network.Conn)
	if hc != nil {
		c = hc.c
	}
	if c != nil {
		info.DownstreamLocal = c.Local
		info.DownstreamRemote = c.Remote
		info.DownstreamDirect = c.Remote
		info.RequestedServerName = c.ServerName
		info.ListenerName = c.ListenerName
		info.FilterChainName = c.FilterChainName
		info.DownstreamTLS = c.TLS
	}

	h1w, isH1 := w.(requestCanceler)
	if hc != nil && isH1 && streaminfo.From(r.Context()) == info {
		// The connection's context carries this stream's Info already
		// (h1Conn), and the codec cancels the request with a cause: no
		// context or request copy of our own.
		st.cancel, st.codecW = nil, h1w
	} else if sw, ok := w.(streamContextWriter); ok {
		// The HTTP/2 codec's context carries the Info and cancels with a
		// cause: no context or request copy of our own either.
		streaminfo.Attach(sw.SetContextValue, info)
		st.cancel, st.codecW = nil, sw
	} else {
		ctx, cancel := context.WithCancelCause(streaminfo.With(r.Context(), info))
		st.cancel, st.codecW = cancel, nil
		r = r.WithContext(ctx)
	}
	st.rw.reset(w)
	st.body.reset(nil)
	if r.Body != nil && r.Body != http.NoBody {
		st.body.reset(r.Body)
		r.Body = &st.body
	} else {
		info.RequestComplete = time.Since(info.Start)
	}
	info.Request = r

	if st.idle != nil {
		st.idle.Reset(cm.s.streamIdleTimeout)
	}
	if st.whole != nil && info.RequestComplete == 0 {
		st.whole.Reset(cm.s.requestTimeout)
	}

	aborted := false
	if code := cm.prepare(r, info); code != 0 {
		st.rw.localReply(code, "")
	} else {
		var rt *route.Route
		if t := cm.routes.Load(); t != nil {
			if rt = t.Match(r); rt != nil {
				info.Route = rt
				info.RouteName = rt.Name()
			}
		}
		switch {
		case info.Upgrade == "" || cm.upgradeAllowed(info.Upgrade, rt):
			aborted = cm.run(&st.rw, r)
		case rt == nil:
			// No route: the router answers 404, as it would without the
			// upgrade.
			info.Upgrade = ""
			aborted = cm.run(&st.rw, r)
		default:
			// Refused: the bytes that follow the request may be the
			// upgraded protocol's, so the connection ends with the answer.
			cm.st.rqWsOnNonWsRoute.Inc()
			info.Upgrade = ""
			info.ResponseCodeDetails = "upgrade_failed"
			st.rw.closeConn = r.ProtoMajor == 1
			st.rw.localReply(http.StatusForbidden, "")
		}
		if !aborted && info.Flags&failure.DownstreamConnectionTermination != 0 && !st.rw.started() {
			// The client left before an answer: there is nobody to send
			// one to. Log it as Envoy does (code 0, DC) and reset.
			aborted = true
		}
	}
	cm.finish(st, aborted)
	st.cancelWith(context.Canceled)
	if aborted {
		panic(http.ErrAbortHandler) // resets the stream, after it was counted and logged
	}
}

// run calls the filter chain. A filter that cannot finish a response
// aborts with http.ErrAbortHandler; run reports it so that the stream is
// still counted and logged before the codec resets it.
func (cm *ConnectionManager) run(w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if aborted {
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				panic(v)
			}
		}
	}()
	aborted = true
	cm.handler.ServeHTTP(w, r)
	return false
}

// finish stops the timers, records the outcome and logs the stream. A
// stream that timed out after its response had started is reset.
func (cm *ConnectionManager) finish(st *stream, aborted bool) {
	st.body.detach()
	st.reusable = true
	if st.idle != nil && !st.idle.Stop() {
		st.reusable = false
	}
	if st.whole != nil && !st.whole.Stop() && st.timedOut != nil {
		st.reusable = false
	}
	st.mu.Lock()
	st.done = true
	timedOut, started := st.timedOut, st.rw.wroteHeader
	st.mu.Unlock()
	info := &st.info
	if !started && !aborted {
		if pe := st.bodyErr.Load(); pe != nil {
			// The request body broke its framing and no filter answered:
			// answer as the codec would have.
			info.AddFlag(failure.DownstreamProtocolError)
			info.ResponseCodeDetails = pe.Details
			st.rw.closeConn = true // only HTTP/1 bodies have chunked framing
			st.rw.localReply(http.StatusBadRequest, "Bad Request")
		} else {
			st.rw.WriteHeader(http.StatusOK)
		}
	}
	info.ResponseCode = st.rw.status
	info.ResponseComplete = time.Since(info.Start)
	cm.st.countResponse(info.ResponseCode)
	cm.st.rqTime.Record(uint64(info.ResponseComplete.Milliseconds()))
	if cm.accessLog != nil {
		cm.accessLog.Log(info)
	}
	info.Request = nil
	if timedOut != nil && st.rw.abortAfter {
		panic(http.ErrAbortHandler) // resets the HTTP/2 stream, closes the HTTP/1 connection
	}
}

// expire runs on a timer: the stream gets the timeout's local reply if
// its response has not started, is reset otherwise, and its context is
// cancelled with the failure as cause so the router stops.
func (st *stream) expire(fe *failure.Error) {
	if !st.mu.TryLock() {
		// A write holds the lock. It may be waiting for the HTTP/2
		// client's flow-control window, which the context does not end:
		// a deadline in the past ends it, and the write records the
		// timeout (timedOutWhileWriting). As in Envoy, the stream idle
		// timeout covers a stream whose client stopped reading.
		st.expiring.Store(fe)
		st.cancelWith(fe)
		if d, ok := st.rw.w.(interface{ SetWriteDeadline(time.Time) error }); ok && st.h1 == nil {
			d.SetWriteDeadline(time.Now())
		}
		return
	}
	defer st.mu.Unlock()
	if st.done || st.timedOut != nil {
		return
	}
	st.timeOutLocked(fe)
	if !st.rw.wroteHeader {
		st.rw.writeLocked(fe.Status, fe.Body)
	}
	st.cancelWith(fe)
	// Wakes a handler blocked reading the body, so that the stream ends
	// now rather than when the client gives up.
	st.body.Close()
}

// timeOutLocked records that fe ended the stream; a stream whose response
// has started is reset when its handler returns. st.mu is held.
func (st *stream) timeOutLocked(fe *failure.Error) {
	st.timedOut = fe
	if fe == failure.ErrStreamIdleTimeout {
		st.cm.st.rqIdleTimeout.Inc()
	} else {
		st.cm.st.rqTimeout.Inc()
	}
	st.info.AddFlag(fe.Flag)
	st.info.ResponseCodeDetails = fe.Details
	st.rw.abortAfter = st.rw.wroteHeader
}

// timedOutWhileWriting is called after a write or flush during which a
// timeout fired (expire could not take st.mu): the timeout is recorded
// now, and the stream is reset when its handler returns. st.mu is held.
func (st *stream) timedOutWhileWriting() {
	if fe := st.expiring.Swap(nil); fe != nil && st.timedOut == nil && !st.done {
		st.timeOutLocked(fe)
		st.body.Close()
	}
}

// cancelWith ends the request's context with cause.
func (st *stream) cancelWith(cause error) {
	if st.cancel != nil {
		st.cancel(cause)
		return
	}
	st.codecW.CancelRequest(cause)
}

// requestCanceler is a codec's ResponseWriter that ends its request's
// context with a cause (both codecs' writers).
type requestCanceler interface{ CancelRequest(cause error) }

// streamContextWriter is the HTTP/2 codec's ResponseWriter: the request's
// context takes the stream's Info too.
type streamContextWriter interface {
	SetContextValue(key, val any)
	requestCanceler
}

// touch restarts the stream idle timer on activity.
func (st *stream) touch() {
	if st.idle != nil {
		st.idle.Reset(st.cm.s.streamIdleTimeout)
	}
}

// errStreamEnded is what reading a request body returns once its stream
// has ended.
var errStreamEnded = errors.New("hcm: request body read after its stream ended")

// requestBody counts request bytes, marks the request complete at EOF
// and keeps the stream alive while bytes arrive.
//
// A transport goroutine may still read the body after the handler
// returned (an upstream request body writer that has not noticed the end
// yet), while the pooled stream already serves another request: the
// stream detaches the body when it ends, and a read that straddles the
// end records nothing. mu is never held during the read itself.
type requestBody struct {
	st *stream
	mu sync.Mutex
	rc io.ReadCloser // nil once detached
}

func (b *requestBody) reset(rc io.ReadCloser) {
	b.mu.Lock()
	b.rc = rc
	b.mu.Unlock()
}

// detach ends the body's tie to the stream, which may now be reused.
func (b *requestBody) detach() { b.reset(nil) }

func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	rc := b.rc
	b.mu.Unlock()
	if rc == nil {
		return 0, errStreamEnded
	}
	n, err := rc.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rc != rc {
		return n, err // the stream ended meanwhile
	}
	info := &b.st.info
	if n > 0 {
		info.BytesReceived.Add(uint64(n))
		b.st.touch()
	}
	if err != nil && err != io.EOF {
		var pe *http1.ProtocolError
		if errors.As(err, &pe) {
			b.st.bodyErr.Store(pe)
			if b.st.h1 != nil {
				b.st.h1.answered.Store(pe) // counted and logged with this stream
			}
		}
	}
	if err == io.EOF && info.RequestComplete == 0 {
		info.RequestComplete = time.Since(info.Start)
		if b.st.whole != nil {
			b.st.whole.Stop()
		}
	}
	return n, err
}

// Buffered passes on what the codec's body knows (http2.BufferedBody):
// the upstream client sends a complete body without a goroutine.
func (b *requestBody) Buffered() (int, bool) {
	b.mu.Lock()
	rc := b.rc
	b.mu.Unlock()
	if bb, ok := rc.(h2codec.BufferedBody); ok {
		return bb.Buffered()
	}
	return 0, false
}

func (b *requestBody) Close() error {
	b.mu.Lock()
	rc := b.rc
	b.mu.Unlock()
	if rc == nil {
		return nil
	}
	return rc.Close()
}

// requestedUpgrade is the upgrade r asks for, lower-cased ("" for none).
func requestedUpgrade(r *http.Request) string {
	up := r.Header.Get("Upgrade")
	if up == "" || r.ProtoMajor != 1 || !headerHasToken(r.Header, "Connection", "upgrade") {
		return ""
	}
	return strings.ToLower(up)
}

// upgradeAllowed decides an upgrade as Envoy does: the route's
// upgrade_configs entry for the type, when it has one, wins over the
// connection manager's (so a route may enable websocket that the manager
// leaves off, or refuse it on a route of its own).
func (cm *ConnectionManager) upgradeAllowed(up string, rt *route.Route) bool {
	if rt != nil && rt.Websocket != nil && up == "websocket" {
		return *rt.Websocket
	}
	return slices.Contains(cm.s.upgrades, up)
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[textproto.CanonicalMIMEHeaderKey(name)] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
