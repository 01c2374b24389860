package http1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Client connection states.
const (
	ccIdle     uint8 = iota // ready for a RoundTrip
	ccBusy                  // an exchange is in progress
	ccUpgraded              // the last response was 101 or a CONNECT 2xx: Hijack allowed
	ccDead                  // closed, hijacked or released as not reusable
)

// exchange parts that must both finish before the connection is reusable.
const (
	partWrite uint8 = 1 << iota // request body being written
	partRead                    // response being read
)

func (cc *ClientConn) roundTrip(req *http.Request) (*http.Response, error) {
	cc.mu.Lock()
	switch cc.state {
	case ccIdle:
	case ccDead:
		cc.mu.Unlock()
		closeBody(req)
		return nil, ErrConnUnusable
	default:
		cc.mu.Unlock()
		closeBody(req)
		return nil, ErrConnBusy
	}
	cc.state = ccBusy
	ex := &exchange{cc: cc, req: req, open: partRead, reusable: true}
	cc.ex = ex
	cc.mu.Unlock()

	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		ex.finish(partRead, false, true)
		return nil, ctxError(ctx)
	}
	if ctx.Done() != nil {
		ex.stop = context.AfterFunc(ctx, ex.abort)
	}

	f, err := requestFraming(req)
	if err != nil {
		closeBody(req)
		ex.finish(partRead, false, true)
		return nil, err
	}
	bw := getWriter(cc.conn)
	if err := writeRequestHead(bw, req, f, HeaderCaseFrom(ctx), cc.absoluteForm); err != nil {
		putWriter(bw)
		closeBody(req)
		ex.finish(partRead, false, true)
		return nil, err
	}
	if f.kind == bodyNone {
		closeBody(req)
		err = bw.Flush()
		putWriter(bw)
		if err != nil {
			ex.finish(partRead, false, true)
			return nil, ex.wrap(err)
		}
	} else {
		// The body streams on its own goroutine so that a response can be
		// read while the request is still being sent (early responses,
		// full-duplex streaming).
		ex.open |= partWrite
		ex.writeDone = make(chan struct{})
		if !bodyBuffered(req.Body, f) {
			err = bw.Flush()
		}
		go ex.writeBody(bw, req.Body, f)
	}
	resp, err := ex.readResponse()
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// readyBody is implemented by the server side's request body: ready
// reports whether the next Read returns without waiting for the network.
// Holding back a flush while it does coalesces head and body into one
// write.
type readyBody interface{ ready() bool }

func bodyBuffered(body io.Reader, f framing) bool {
	rb, ok := body.(readyBody)
	return ok && rb.ready()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// exchange is one request/response on a ClientConn. It decides when the
// connection is released: once both the request body is written and the
// response read, or at once when either fails.
type exchange struct {
	cc        *ClientConn
	req       *http.Request
	br        *bufio.Reader
	body      *responseBody
	stop      func() bool // stops the context watcher
	writeDone chan struct{}

	mu       sync.Mutex
	open     uint8 // parts still running
	reusable bool
	released bool
	aborted  bool  // by the request's context
	bodyErr  error // reading the request body failed
}

// abort runs when the request's context is done: closing the connection
// unblocks every read and write of the exchange.
func (ex *exchange) abort() {
	ex.mu.Lock()
	ex.aborted = true
	ex.mu.Unlock()
	ex.cc.conn.Close()
}

// finish records that part ended. abort (or the response ending before
// the request body was sent) releases the connection at once as not
// reusable, closing it; otherwise it is released when both parts ended.
func (ex *exchange) finish(part uint8, reusable, abort bool) {
	ex.mu.Lock()
	if ex.open&part == 0 {
		ex.mu.Unlock()
		return
	}
	ex.open &^= part
	if !reusable {
		ex.reusable = false
	}
	if part == partRead && ex.open != 0 {
		abort = true
	}
	if ex.released || (ex.open != 0 && !abort) {
		ex.mu.Unlock()
		return
	}
	ex.released = true
	ok := ex.reusable && !abort
	if ex.stop != nil && !ex.stop() {
		ok = false // the context watcher is closing the connection
	}
	ex.mu.Unlock()
	ex.cc.release(ok, false)
}

// wrap prefers the cause that explains a failed read or write: the
// request's context, then a failed request body, then err itself.
func (ex *exchange) wrap(err error) error {
	ex.mu.Lock()
	aborted, bodyErr := ex.aborted, ex.bodyErr
	ex.mu.Unlock()
	if aborted {
		return ctxError(ex.req.Context())
	}
	if bodyErr != nil {
		return bodyErr
	}
	return err
}

func ctxError(ctx context.Context) error {
	return &abortError{cause: context.Cause(ctx)}
}

type abortError struct{ cause error }

func (e *abortError) Error() string { return "http1: exchange aborted: " + e.cause.Error() }
func (e *abortError) Unwrap() error { return e.cause }

// release hands the connection back: reusable, or closed (unless hijacked,
// when the caller owns it now).
func (cc *ClientConn) release(reusable, hijacked bool) {
	cc.mu.Lock()
	cc.ex = nil
	if reusable {
		cc.state = ccIdle
	} else {
		cc.state = ccDead
	}
	cc.mu.Unlock()
	if !reusable && !hijacked {
		cc.conn.Close()
	}
	if cc.onRelease != nil {
		cc.onRelease(reusable)
	}
}

// copyBufPool holds buffers for streaming request bodies.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

var errBodyLength = errors.New("request body length differs from ContentLength")

// writeBody streams the request body after the head already in bw.
func (ex *exchange) writeBody(bw *bufio.Writer, body io.ReadCloser, f framing) {
	defer close(ex.writeDone)
	bufp := copyBufPool.Get().(*[]byte)
	bodyErr, connErr := copyBody(bw, body, f, ex.req, *bufp)
	copyBufPool.Put(bufp)
	body.Close()
	if connErr == nil && bodyErr == nil {
		connErr = bw.Flush()
	}
	putWriter(bw)
	switch {
	case bodyErr != nil:
		ex.mu.Lock()
		ex.bodyErr = &RequestBodyError{Err: bodyErr}
		ex.mu.Unlock()
		ex.finish(partWrite, false, true)
	case connErr != nil:
		// Leave the connection open: the upstream may have answered
		// early and closed, and that response is still to be read.
		ex.finish(partWrite, false, false)
	default:
		ex.finish(partWrite, true, false)
	}
}

// copyBody writes body in framing f; it tells a failure of the body
// (the downstream's fault) from a failure of the connection.
func copyBody(bw *bufio.Writer, body io.Reader, f framing, req *http.Request, buf []byte) (bodyErr, connErr error) {
	var sent int64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			sent += int64(n)
			if f.kind == bodyFixed && sent > f.length {
				return errBodyLength, nil
			}
			var werr error
			if f.kind == bodyChunked {
				werr = writeChunk(bw, buf[:n])
			} else {
				_, werr = bw.Write(buf[:n])
			}
			if werr == nil && !bodyBuffered(body, f) {
				werr = bw.Flush()
			}
			if werr != nil {
				return nil, werr
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr, nil
		}
	}
	if f.kind == bodyFixed {
		if sent != f.length {
			return errBodyLength, nil
		}
		return nil, nil
	}
	if err := writeLastChunk(bw, req.Trailer, HeaderCaseFrom(req.Context()), true); err != nil {
		return nil, err
	}
	return nil, nil
}

// requestFraming decides how the request body is delimited: its known
// length, or chunked when the length is unknown.
func requestFraming(req *http.Request) (framing, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return framing{kind: bodyNone}, nil
	}
	if slices.Contains(req.TransferEncoding, "chunked") || req.ContentLength <= 0 {
		return framing{kind: bodyChunked}, nil
	}
	return framing{kind: bodyFixed, length: req.ContentLength}, nil
}

var (
	errInvalidMethod = errors.New("http1: invalid request method")
	errInvalidTarget = errors.New("http1: invalid request target")
	errInvalidHost   = errors.New("http1: invalid Host")
	errNoURL         = errors.New("http1: request without URL")
)

// writeRequestHead writes the request line and header fields: Host from
// req.Host, framing chosen by the codec, names in hc's case.
func writeRequestHead(bw *bufio.Writer, req *http.Request, f framing, hc HeaderCase, absolute bool) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !isToken(method) {
		return errInvalidMethod
	}
	if req.URL == nil {
		return errNoURL
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validFieldValue(host) || strings.ContainsAny(host, " \t") {
		return errInvalidHost
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	if err := writeTarget(bw, req, absolute); err != nil {
		return err
	}
	bw.WriteString(" HTTP/1.1\r\n")
	writeField(bw, hc, "Host", host)
	if err := writeFields(bw, req.Header, hc, skipHost|skipFraming|skipTrailer|skipExpect, true); err != nil {
		return err
	}
	if req.Close && !hasToken(req.Header["Connection"], "close") {
		writeField(bw, hc, "Connection", "close")
	}
	switch f.kind {
	case bodyFixed:
		writeContentLength(bw, hc, f.length)
	case bodyChunked:
		writeField(bw, hc, "Transfer-Encoding", "chunked")
		if len(req.Trailer) > 0 {
			writeField(bw, hc, "Trailer", trailerKeys(req.Trailer))
		}
	case bodyNone:
		if _, had := req.Header["Content-Length"]; had || methodExpectsBody(method) {
			writeContentLength(bw, hc, 0)
		}
	}
	_, err := bw.WriteString("\r\n")
	return err
}

func methodExpectsBody(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

func trailerKeys(t http.Header) string {
	keys := make([]string, 0, len(t))
	for k := range t {
		if isToken(k) && !forbiddenTrailer(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// writeTarget writes the request-target: authority-form for CONNECT,
// absolute-form when asked and the URL is absolute, else origin-form.
func writeTarget(bw *bufio.Writer, req *http.Request, absolute bool) error {
	u := req.URL
	var target string
	switch {
	case req.Method == http.MethodConnect:
		target = u.Host
		if target == "" {
			target = req.Host
		}
	case absolute && u.Scheme != "" && u.Host != "":
		target = u.String()
	case u.Opaque != "" || u.RawPath != "":
		target = u.RequestURI()
	default:
		target = u.EscapedPath()
		if target == "" {
			target = "/"
		}
		if !validTarget(target) {
			return errInvalidTarget
		}
		bw.WriteString(target)
		if u.ForceQuery || u.RawQuery != "" {
			if !validTarget(u.RawQuery) {
				return errInvalidTarget
			}
			bw.WriteByte('?')
			bw.WriteString(u.RawQuery)
		}
		return nil
	}
	if target == "" || !validTarget(target) {
		return errInvalidTarget
	}
	bw.WriteString(target)
	return nil
}

// validTarget rejects bytes that would split the request line: controls,
// space and DEL. Bytes above 0x7f pass, as Envoy lets them.
func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
