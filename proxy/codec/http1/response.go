package http1

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
)

// response is the http.ResponseWriter of one request. The head is written
// lazily (at the first Write, Flush or when the handler returns) so that a
// handler that writes nothing gets "Content-Length: 0" rather than an
// empty chunked body.
type response struct {
	sc   *serverConn
	req  *http.Request
	body *requestBody // nil without a body
	// ctx is the request's context, ended by cancel (cancelCtx and the
	// exchange registered in rw); parent is its parent.
	ctx       context.Context
	cancelCtx context.CancelCauseFunc
	parent    requestParent
	rw        requestWatch
	header    http.Header  // the connection's, cleared for every request
	hc        HeaderCase   // case of the response header names (SetHeaderCase)
	url       url.URL      // the request's URL, allocated with the response
	reqv      http.Request // what req points to, allocated with the response
	bw        *bufio.Writer

	status      int  // final status; 0 until WriteHeader
	headSent    bool // the final head is in bw
	kind        bodyKind
	length      int64 // declared Content-Length
	written     int64 // body bytes written
	closeAfter  bool  // the connection closes after this response
	hijacked    bool
	finished    bool  // the request is over or hijacked (guarded by sc.bgMu)
	err         error // sticky write error
	http10      bool
	contMu      sync.Mutex // orders a "100 Continue" before the final head
	contPending bool       // guarded by contMu
	// pend holds the first small writes of a response without a
	// Content-Length, so that one that ends soon gets a length (and
	// HTTP/1.0 keep-alive) instead of chunked framing.
	pend *[]byte
}

// maxPend bounds the body held back before the head is committed.
const maxPend = 2 << 10

var pendPool = sync.Pool{New: func() any { b := make([]byte, 0, maxPend); return &b }}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.status != 0 {
		return
	}
	if code < 100 || code > 999 {
		panic("http1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.status = code
}

// writeInformational sends a 1xx response at once, with the header fields
// set so far, as net/http does. HTTP/1.0 clients get none (RFC 9110 §15.2).
func (w *response) writeInformational(code int) {
	if w.http10 || w.err != nil {
		return
	}
	w.contMu.Lock()
	defer w.contMu.Unlock()
	if code == http.StatusContinue {
		if !w.contPending {
			return // sent already, or not asked for
		}
		w.contPending = false
	}
	bw := w.writer()
	writeStatusLine(bw, false, code)
	writeFields(bw, w.header, w.hc, skipFraming|skipConnection|skipTrailer, false)
	bw.WriteString("\r\n")
	w.err = bw.Flush()
}

// writeContinue answers "Expect: 100-continue" on the first body Read,
// unless the final head went out first.
func (w *response) writeContinue() error {
	w.contMu.Lock()
	defer w.contMu.Unlock()
	if !w.contPending {
		return nil
	}
	w.contPending = false
	// Written straight to the connection: the handler's goroutine may own
	// the buffered writer, and conn writes never interleave.
	_, err := w.sc.conn.Write(continueLine)
	return err
}

var continueLine = []byte("HTTP/1.1 100 Continue\r\n\r\n")

func (w *response) writer() *bufio.Writer {
	if w.bw == nil {
		w.bw = getWriter(w.sc.out)
	}
	return w.bw
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status, w.req.Method) {
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if len(p) == 0 {
		return 0, w.err // an empty write must not commit to chunked framing
	}
	if !w.headSent {
		if _, sized := w.header["Content-Length"]; !sized {
			if w.pend == nil {
				w.pend = pendPool.Get().(*[]byte)
			}
			if len(*w.pend)+len(p) <= maxPend {
				*w.pend = append(*w.pend, p...)
				return len(p), nil
			}
		}
		w.commit(false)
	}
	return w.writeBody(p)
}

// commit sends the head, then the body held back so far.
func (w *response) commit(end bool) {
	w.sendHead(end)
	if w.pend != nil {
		if len(*w.pend) > 0 {
			w.writeBody(*w.pend)
		}
		*w.pend = (*w.pend)[:0]
		pendPool.Put(w.pend)
		w.pend = nil
	}
}

func (w *response) writeBody(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.kind == bodyFixed && w.written+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	var n int
	if w.kind == bodyChunked {
		if w.err = writeChunk(w.bw, p); w.err == nil {
			n = len(p)
		}
	} else {
		n, w.err = w.bw.Write(p)
	}
	w.written += int64(n)
	return n, w.err
}

func (w *response) Flush() { w.FlushError() }

// FlushError is what http.ResponseController calls.
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.commit(false)
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

// EnableFullDuplex is what http.ResponseController calls: reading the
// request body while writing the response always works here.
func (w *response) EnableFullDuplex() error { return nil }

// sendHead writes the status line and header fields, choosing the body's
// framing: the handler's Content-Length, zero when the handler ends
// without a body, chunked for HTTP/1.1, else until the connection closes.
func (w *response) sendHead(end bool) {
	w.contMu.Lock()
	w.contPending = false
	w.contMu.Unlock()
	w.headSent = true
	bw := w.writer()
	h := w.header
	sc := w.sc
	// A 101 hands the connection over: its Connection field is the
	// handler's ("Upgrade") and it is never reused anyway.
	if w.status != http.StatusSwitchingProtocols && (w.req.Close || sc.draining() ||
		(sc.drainingFn != nil && sc.drainingFn()) || hasToken(h["Connection"], "close") ||
		(end && w.body != nil && w.body.unfinished())) {
		w.closeAfter = true
	}
	w.kind = bodyNone
	switch {
	case w.status == http.StatusSwitchingProtocols:
	case !bodyAllowed(w.status, w.req.Method):
		if w.status == http.StatusNoContent {
			delete(h, "Content-Length")
		}
	default:
		if cl, ok := h["Content-Length"]; ok && len(cl) == 1 {
			if n, ok := parseDecimal(cl[0]); ok {
				w.kind, w.length = bodyFixed, n
				break
			}
		}
		switch {
		case end:
			w.kind, w.length = bodyFixed, 0
			if w.pend != nil {
				w.length = int64(len(*w.pend))
			}
		case !w.http10:
			w.kind = bodyChunked
		default:
			w.kind = bodyUntilEOF
			w.closeAfter = true
		}
	}
	writeStatusLine(bw, w.http10, w.status)
	s := skipFraming
	if w.kind != bodyChunked {
		s |= skipTrailer
	}
	if w.closeAfter || (w.http10 && w.status != http.StatusSwitchingProtocols) {
		s |= skipConnection
	}
	writeFields(bw, h, w.hc, s, false)
	switch {
	case w.closeAfter:
		writeField(bw, w.hc, "Connection", "close")
	case w.http10 && w.status != http.StatusSwitchingProtocols:
		writeField(bw, w.hc, "Connection", "keep-alive")
	}
	switch w.kind {
	case bodyFixed:
		writeContentLength(bw, w.hc, w.length)
	case bodyChunked:
		writeField(bw, w.hc, "Transfer-Encoding", "chunked")
	case bodyNone:
		if cl, ok := h["Content-Length"]; ok && len(cl) == 1 && w.status != http.StatusSwitchingProtocols {
			if _, ok := parseDecimal(cl[0]); ok {
				writeField(bw, w.hc, "Content-Length", cl[0]) // HEAD, 304
			}
		}
	}
	_, w.err = bw.WriteString("\r\n")
}

// finish completes the response after the handler returned: the head if
// not sent, the last chunk and trailers, and the flush. It reports whether
// the connection can carry another request.
func (w *response) finish() bool {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.commit(true)
	}
	if w.kind == bodyChunked && w.err == nil {
		w.err = writeLastChunk(w.bw, w.trailers(), w.hc, false)
	}
	if w.kind == bodyFixed && w.written < w.length {
		w.closeAfter = true // the client would wait for the missing bytes
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	putWriter(w.bw)
	w.bw = nil
	ok := w.err == nil && !w.closeAfter && w.status != http.StatusSwitchingProtocols
	w.err = errAfterHandler
	return ok
}

// errAfterHandler answers writes from a goroutine the handler left behind.
var errAfterHandler = errors.New("http1: response used after the handler returned")

// trailers collects the trailer fields: those declared in the Trailer
// field and set after the head, and those set with http.TrailerPrefix.
func (w *response) trailers() http.Header {
	var t http.Header
	for _, v := range w.header["Trailer"] {
		for _, k := range splitTokens(v) {
			k = http.CanonicalHeaderKey(k)
			if vv, ok := w.header[k]; ok && !forbiddenTrailer(k) {
				if t == nil {
					t = make(http.Header)
				}
				t[k] = vv
			}
		}
	}
	for k, vv := range w.header {
		if len(k) > len(http.TrailerPrefix) && k[:len(http.TrailerPrefix)] == http.TrailerPrefix {
			k = http.CanonicalHeaderKey(k[len(http.TrailerPrefix):])
			if !forbiddenTrailer(k) {
				if t == nil {
					t = make(http.Header)
				}
				t[k] = vv
			}
		}
	}
	return t
}

func splitTokens(v string) []string {
	var out []string
	for len(v) > 0 {
		var item string
		if i := indexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, ""
		}
		if item = trimOWSString(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

var errHijackLate = errors.New("http1: hijack after the response started")

// Hijack hands the connection over, before anything was written or after
// WriteHeader(101), whose head it sends first.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.err == errAfterHandler {
		return nil, nil, w.err
	}
	if w.status != 0 && w.status != http.StatusSwitchingProtocols {
		return nil, nil, errHijackLate
	}
	sc := w.sc
	sc.stopBackgroundRead(w) // and none starts again: the connection is the hijacker's
	if w.status == http.StatusSwitchingProtocols && !w.headSent {
		w.commit(false)
	}
	if w.bw != nil {
		if w.err == nil {
			w.err = w.bw.Flush()
		}
		putWriter(w.bw)
		w.bw = nil
		if w.err != nil {
			return nil, nil, w.err
		}
	}
	w.hijacked = true
	sc.hijacked = true
	sc.conn.SetDeadline(noDeadline)
	return sc.conn, bufio.NewReadWriter(sc.br, bufio.NewWriter(sc.conn)), nil
}
