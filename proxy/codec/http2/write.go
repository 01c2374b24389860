package http2

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2/hpack"
)

// responseWriter is the stream's http.ResponseWriter. Its methods run on
// the handler's goroutine; each frame is written under the connection's
// write lock. The response HEADERS wait for the first Write or Flush, or
// the handler's return: a response without body or trailers then ends
// with its HEADERS (gRPC's trailers-only responses need that).
type responseWriter struct {
	st          *stream
	header      http.Header
	status      int
	wroteHeader bool // the final status is decided
	headSent    bool // its HEADERS were written
	written     int64
	declLen     int64    // the response's Content-Length, -1 if none
	trailers    []string // declared with the Trailer header
	handlerDone bool     // guarded by sc.mu
	sentFinal   atomic.Bool
}

var (
	_ http.ResponseWriter = (*responseWriter)(nil)
	_ http.Flusher        = (*responseWriter)(nil)
)

func (w *responseWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

// WriteHeader decides the status; a 1xx is written at once. The head is
// encoded from the header map when it is sent, not copied here: unlike
// net/http, a change to the map between WriteHeader and the first Write
// or Flush is sent (keys declared in the Trailer header never are).
func (w *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("http2: invalid WriteHeader code %v", code))
	}
	if w.wroteHeader {
		return
	}
	if code < 200 {
		if code != http.StatusSwitchingProtocols { // no 101 in HTTP/2
			w.writeHeaders(code, false)
		}
		return
	}
	w.wroteHeader, w.status, w.declLen = true, code, -1
	h := w.Header()
	if cl := h["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			w.declLen = n
		}
	}
	for _, v := range h["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" && httpguts.ValidTrailerHeader(k) {
				w.trailers = append(w.trailers, k)
			}
		}
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		h := w.Header()
		if _, ok := h["Content-Type"]; !ok && len(p) > 0 && h.Get("Content-Encoding") == "" {
			h.Set("Content-Type", http.DetectContentType(p)) // as net/http does
		}
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.writeHeaders(w.status, false)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.st.req.Method == http.MethodHead {
		return len(p), nil
	}
	if w.declLen >= 0 && w.written+int64(len(p)) > w.declLen {
		return 0, errTooLong
	}
	sc, st := w.st.sc, w.st
	sent := 0
	for sent < len(p) {
		n, err := sc.reserve(st, len(p)-sent)
		if err != nil {
			return sent, err
		}
		if err := sc.writeData(st, p[sent:sent+n], false); err != nil {
			return sent, err
		}
		sent += n
		w.written += int64(n)
	}
	return sent, nil
}

// Flush sends the HEADERS if they are still due. Frames are written as
// they are made; the connection gathers them into few writes.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.writeHeaders(w.status, false)
	}
}

// SetContextValue makes the request's context report val for key. The
// handler calls it first, before the context is used or shared with
// another goroutine; a later call replaces the value.
func (w *responseWriter) SetContextValue(key, val any) {
	w.st.sctx.key, w.st.sctx.val = key, val
}

// CancelRequest ends the request's context with cause (what
// context.Cause reports), as the stream's reset would with
// context.Canceled.
func (w *responseWriter) CancelRequest(cause error) { w.st.cancelFn(cause) }

// SetWriteDeadline bounds how long a Write may wait for the client's
// flow-control window (http.ResponseController reaches it); a zero time
// removes the bound. A write past the deadline fails with
// os.ErrDeadlineExceeded. A caller that must stop a stream at once (a
// timeout) sets a deadline in the past.
func (w *responseWriter) SetWriteDeadline(t time.Time) error {
	sc, st := w.st.sc, w.st
	sc.mu.Lock()
	st.writeDeadline = t
	sc.mu.Unlock()
	if !t.IsZero() {
		time.AfterFunc(time.Until(t), func() {
			sc.mu.Lock()
			sc.flow.Broadcast()
			sc.mu.Unlock()
		})
	}
	return nil
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// finish ends the response after the handler returned: HEADERS if none
// were sent, then the trailers or an empty DATA with END_STREAM.
func (w *responseWriter) finish() {
	st, sc := w.st, w.st.sc
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.writeHeaders(w.status, true)
	} else {
		sc.wmu.Lock()
		err := sc.liveLocked(st)
		if err == nil {
			err = w.writeEndLocked()
		}
		sc.unlockW()
		if err != nil {
			return
		}
	}
	sc.mu.Lock()
	st.localDone = true
	if st.remoteDone {
		st.endLocked(errStreamClosed)
	}
	sc.mu.Unlock()
}

// writeContinue answers "Expect: 100-continue" when the body is first read.
func (w *responseWriter) writeContinue() {
	if w.sentFinal.Load() {
		return
	}
	sc := w.st.sc
	sc.wmu.Lock()
	defer sc.unlockW()
	if sc.liveLocked(w.st) != nil || w.sentFinal.Load() {
		return
	}
	sc.hbuf.Reset()
	sc.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "100"})
	sc.writeBlockLocked(w.st.id, sc.hbuf.Bytes(), false)
}

// writeHeaders encodes and writes a response head. When the whole
// response ends with it (finish without a body), the declared trailers,
// if any, follow in a HEADERS of their own.
func (w *responseWriter) writeHeaders(code int, end bool) {
	st, sc := w.st, w.st.sc
	closeConn := false
	sc.wmu.Lock()
	if sc.liveLocked(st) != nil {
		sc.unlockW()
		return
	}
	if code >= 200 {
		w.headSent = true
		w.sentFinal.Store(true)
	}
	sc.hbuf.Reset()
	sc.enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusValue(code)})
	for k, vv := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) || code >= 200 && w.isTrailer(k) {
			continue
		}
		if k == "Connection" {
			closeConn = closeConn || httpguts.HeaderValuesContainsToken(vv, "close")
			continue
		}
		lk := lowerKey(k)
		if isConnectionHeader(lk) || !httpguts.ValidHeaderFieldName(lk) {
			continue
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) || lk == "te" && v != "trailers" {
				continue
			}
			sc.enc.WriteField(hpack.HeaderField{Name: lk, Value: v})
		}
	}
	if end && bodyAllowed(code) && st.req.Method != http.MethodHead && w.header["Content-Length"] == nil {
		sc.enc.WriteField(hpack.HeaderField{Name: "content-length", Value: "0"})
	}
	if end && w.hasTrailers() {
		// The trailers follow the head in a HEADERS of their own; they
		// are encoded after it, as the peer will decode them.
		if sc.writeBlockLocked(st.id, sc.hbuf.Bytes(), false) == nil {
			w.writeEndLocked()
		}
	} else {
		sc.writeBlockLocked(st.id, sc.hbuf.Bytes(), end)
	}
	sc.unlockW()
	if closeConn {
		go sc.Drain() // "Connection: close" asks for the connection's end
	}
}

// hasTrailers reports whether the response has trailers to send.
func (w *responseWriter) hasTrailers() bool {
	for _, k := range w.trailers {
		if len(w.header[k]) > 0 {
			return true
		}
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

func (w *responseWriter) isTrailer(k string) bool {
	for _, t := range w.trailers {
		if t == k {
			return true
		}
	}
	return false
}

// writeEndLocked ends a response whose head was written: with its
// trailers, or an empty DATA with END_STREAM when it has none; wmu is
// held.
func (w *responseWriter) writeEndLocked() error {
	sc, id := w.st.sc, w.st.id
	if w.encodeTrailers() > 0 {
		return sc.writeBlockLocked(id, sc.hbuf.Bytes(), true)
	}
	return sc.noteWriteErr(sc.wfr.WriteData(id, true, nil))
}

// encodeTrailers encodes the trailers into sc.hbuf (reset first) and
// returns how many fields it wrote; wmu is held.
func (w *responseWriter) encodeTrailers() int {
	sc := w.st.sc
	sc.hbuf.Reset()
	n := 0
	put := func(k string, vv []string) {
		lk := lowerKey(k)
		if !httpguts.ValidHeaderFieldName(lk) {
			return
		}
		for _, v := range vv {
			if httpguts.ValidHeaderFieldValue(v) {
				sc.enc.WriteField(hpack.HeaderField{Name: lk, Value: v})
				n++
			}
		}
	}
	for _, k := range w.trailers {
		put(k, w.header[k])
	}
	for k, vv := range w.header {
		if k, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidTrailerHeader(http.CanonicalHeaderKey(k)) {
			put(k, vv)
		}
	}
	return n
}

// liveLocked says whether frames may still be written for st; wmu is held.
func (sc *serverConn) liveLocked(st *stream) error {
	if sc.wErr != nil {
		return sc.wErr
	}
	if st.dead.Load() {
		return errStreamClosed
	}
	sc.pushDeadline()
	return nil
}

// writeBlockLocked writes a header block as HEADERS and CONTINUATION
// frames no larger than the peer accepts; wmu is held.
func (sc *serverConn) writeBlockLocked(id uint32, block []byte, end bool) error {
	if err := writeHeaderBlock(sc.wfr, id, block, end, int(sc.peerFrame.Load())); err != nil {
		return sc.noteWriteErr(err)
	}
	return nil
}

// writeData writes one DATA frame of st.
func (sc *serverConn) writeData(st *stream, p []byte, end bool) error {
	sc.wmu.Lock()
	defer sc.unlockW()
	if err := sc.liveLocked(st); err != nil {
		return err
	}
	return sc.noteWriteErr(sc.wfr.WriteData(st.id, end, p))
}

// reserve waits until st may send some of want bytes and takes them from
// the stream's and the connection's send windows.
func (sc *serverConn) reserve(st *stream, want int) (int, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for {
		switch {
		case sc.closed:
			return 0, errConnClosed
		case st.ended:
			return 0, errStreamClosed
		}
		n := min(int64(want), st.sendWindow, sc.sendWindow, int64(sc.peerFrame.Load()))
		if n > 0 {
			st.sendWindow -= n
			sc.sendWindow -= n
			return int(n), nil
		}
		if !st.writeDeadline.IsZero() && !time.Now().Before(st.writeDeadline) {
			return 0, os.ErrDeadlineExceeded
		}
		sc.flow.Wait()
	}
}

// statusValues holds :status values, so that writing one allocates nothing.
var statusValues = func() (v [600]string) {
	for i := 100; i < len(v); i++ {
		v[i] = strconv.Itoa(i)
	}
	return v
}()

func statusValue(code int) string {
	if code < len(statusValues) {
		return statusValues[code]
	}
	return strconv.Itoa(code)
}
