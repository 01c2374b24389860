// Package http1 is the proxy's HTTP/1.x codec: a strict server side that
// turns bytes from a downstream connection into *http.Request values for an
// http.Handler, and a client side that sends a request on an upstream
// connection and reads its response. Bodies stream in both directions;
// nothing is buffered whole.
//
// CONTRACT (frozen by the lead; other packages code against these names):
// ServerConfig, ServeConn, ClientConfig, NewClientConn, (*ClientConn).RoundTrip,
// (*ClientConn).Close, (*ClientConn).Hijack, WithHeaderCase, HeaderCaseFrom.
// Add freely; do not rename or change these signatures.
package http1

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServerConfig configures the server side. The zero value serves with
// Envoy's defaults (60 KiB of headers, no timeouts, HTTP/1.0 refused).
type ServerConfig struct {
	// MaxHeaderBytes bounds the request line plus headers; beyond it the
	// request is answered 431. Zero means 60 KiB (Envoy's default).
	MaxHeaderBytes int
	// HeadersTimeout bounds the time from the first byte of a request to the
	// end of its headers; on expiry the request is answered 408 and the
	// connection closed. Zero disables it.
	HeadersTimeout time.Duration
	// IdleTimeout closes a connection that has had no request in flight for
	// this long. Zero disables it.
	IdleTimeout time.Duration
	// AcceptHTTP10 serves HTTP/1.0 requests; when false they get 426.
	AcceptHTTP10 bool
	// PreserveCase records the header names' original case on each request
	// (see HeaderCaseFrom) and writes response header names in the case the
	// upstream used (the handler passes ResponseHeaderCase of the upstream
	// response to SetHeaderCase).
	PreserveCase bool
	// Draining, if not nil, is asked before each response: when it returns
	// true the response carries "Connection: close" and the connection is
	// closed after it.
	Draining func() bool
	// ConnContext, if not nil, derives the base context of every request on
	// the connection.
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// OnProtocolError, if not nil, is told of every request rejected by the
	// codec itself (status is the 4xx sent: 400, 408, 413, 426, 431, 501).
	// err is a *ProtocolError (its Details is Envoy's response code
	// detail). It is also told, after the handler returned, of a framing
	// error in a chunked request body, which the handler saw as the error
	// of Body.Read (then status is 400, and it was sent only if the handler
	// had not answered). The codec never sends 413.
	OnProtocolError func(status int, err error)
}

// ServeConn serves requests from conn, reading first from br (which may hold
// bytes already peeked by listener filters), until the peer closes, an
// error closes it, or ctx is done (then the connection finishes the request
// in flight and closes). Each request's Body streams from the connection;
// the http.ResponseWriter given to h implements http.Flusher and, for an
// upgrade, http.Hijacker.
//
// Details beyond the frozen contract: br may be nil (a pooled reader is
// used); cfg may be nil (defaults). Each request's context derives from
// ctx without its cancellation (ServeConn's ctx ending drains, it does not
// abort), through ConnContext, and is cancelled when the handler returns
// or the client goes away while the handler runs. ServeConn closes conn
// before it returns, unless a handler hijacked it. It returns nil when the
// peer closed, the idle timeout passed, ctx ended or the connection was
// hijacked; the *ProtocolError it answered bad input with; or the I/O or
// handler-panic error that ended it.
func ServeConn(ctx context.Context, conn net.Conn, br *bufio.Reader, h http.Handler, cfg *ServerConfig) error {
	return serveConn(ctx, conn, br, h, cfg)
}

// ClientConfig configures the client side.
type ClientConfig struct {
	// MaxResponseHeaderBytes bounds the response status line plus headers.
	// Zero means 60 KiB.
	MaxResponseHeaderBytes int
	// Release, if not nil, is called once per RoundTrip when its response
	// has been read to the end (or the exchange failed): reusable tells
	// whether the connection may carry another request.
	//
	// When reusable is false the codec has already closed the connection
	// (or handed it to the caller of Hijack): the pool only forgets it.
	// Release runs on whichever goroutine ended the exchange (the one
	// reading or closing the body, the request-body writer, or the
	// context watcher) and must not block.
	Release func(reusable bool)
	// PreserveCase records the case of response header names (see
	// ResponseHeaderCase). It is also on when the request's context carries
	// a HeaderCase.
	PreserveCase bool
	// ReuseResponseHeader makes each response's Header the connection's one
	// map, cleared for the next response: a response's Header is then
	// valid only until its body is closed or read to its end (copy what
	// must outlive it; the value slices stay valid). It spares a map per
	// request to a caller that copies the header at once, as a proxy does.
	ReuseResponseHeader bool
	// AbsoluteForm writes the request-target in absolute form
	// ("http://host/path") when req.URL has a scheme and host, as an
	// upstream HTTP proxy expects. Otherwise the target is origin-form
	// ("/path?query"), or authority-form for CONNECT.
	AbsoluteForm bool
}

// ClientConn sends requests, one at a time, on one upstream connection.
type ClientConn struct {
	conn         net.Conn
	onRelease    func(reusable bool)
	maxHeadBytes int
	preserveCase bool
	absoluteForm bool

	mu    sync.Mutex
	state uint8     // ccIdle, ccBusy, ccUpgraded, ccDead
	ex    *exchange // the exchange in progress
	// abortFn is abortExchange, bound once rather than per exchange.
	abortFn func()
	// header is the response header map reused by each exchange
	// (ReuseResponseHeader); nil otherwise.
	header http.Header
}

// NewClientConn wraps an established connection. cfg may be nil.
func NewClientConn(conn net.Conn, cfg *ClientConfig) *ClientConn {
	cc := &ClientConn{conn: conn, maxHeadBytes: defaultMaxHeadBytes}
	cc.abortFn = cc.abortExchange
	if cfg != nil {
		cc.onRelease = cfg.Release
		cc.preserveCase = cfg.PreserveCase
		cc.absoluteForm = cfg.AbsoluteForm
		if cfg.ReuseResponseHeader {
			cc.header = make(http.Header)
		}
		if cfg.MaxResponseHeaderBytes > 0 {
			cc.maxHeadBytes = cfg.MaxResponseHeaderBytes
		}
	}
	return cc
}

// RoundTrip writes req (streaming req.Body, chunked when its length is
// unknown) and reads the response headers. The response Body streams from
// the connection; trailers land in resp.Trailer. An "Expect: 100-continue"
// header is not forwarded. Hop-by-hop headers are the caller's business.
// The request's header case, if recorded (HeaderCaseFrom), is kept.
//
// req.Body is always closed. Informational responses are skipped (and
// reported to an httptrace.ClientTrace's Got1xxResponse on the request's
// context); 101 and, for CONNECT, 2xx end the exchange with an empty body,
// after which Hijack hands the connection over. When req's context is done
// the connection is closed, which aborts the exchange at once.
//
// Errors: *ProtocolError for a malformed response (502, UPE), an error
// matching ErrClosedBeforeResponse when the upstream closed before
// answering, *RequestBodyError when reading req.Body failed, the
// context's error (errors.Is context.Canceled / DeadlineExceeded) when
// the context ended it, or the network error.
func (cc *ClientConn) RoundTrip(req *http.Request) (*http.Response, error) {
	return cc.roundTrip(req)
}

// Hijack takes the connection over after a 101 Switching Protocols
// response (or a 2xx answer to CONNECT); br holds bytes already read past
// the response headers. It returns nil, nil at any other time. The
// exchange is released as not reusable, without closing the connection:
// the caller owns it now.
func (cc *ClientConn) Hijack() (net.Conn, *bufio.Reader) {
	return cc.hijack()
}

// Close closes the connection. An exchange in progress fails (and is
// released); later RoundTrips fail with ErrConnUnusable.
func (cc *ClientConn) Close() error {
	cc.mu.Lock()
	if cc.state == ccIdle {
		cc.state = ccDead
	}
	cc.mu.Unlock()
	return cc.conn.Close()
}

// HeaderCase maps canonical header names to the case seen on the wire.
type HeaderCase map[string]string

type headerCaseKey struct{}

// WithHeaderCase returns ctx carrying hc.
func WithHeaderCase(ctx context.Context, hc HeaderCase) context.Context {
	return context.WithValue(ctx, headerCaseKey{}, hc)
}

// HeaderCaseFrom returns the header case recorded on ctx, or nil.
func HeaderCaseFrom(ctx context.Context) HeaderCase {
	hc, _ := ctx.Value(headerCaseKey{}).(HeaderCase)
	return hc
}
