package hcm

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/outrider-mesh/outrider/proxy/failure"
)

// errTimedOut is returned to a handler writing after its stream timed out.
var errTimedOut = errors.New("hcm: stream timed out")

// responseWriter records the status and bytes of a response, applies the
// server header, and serialises writes with the timeout path.
type responseWriter struct {
	st          *stream
	w           http.ResponseWriter
	status      int
	wroteHeader bool
	abortAfter  bool // timed out after the response started: reset at the end
	closeConn   bool // local replies end the HTTP/1 connection
}

func (rw *responseWriter) reset(w http.ResponseWriter) {
	rw.w, rw.status, rw.wroteHeader, rw.abortAfter, rw.closeConn = w, 0, false, false, false
}

func (rw *responseWriter) Header() http.Header { return rw.w.Header() }

// started reports whether the response head was written.
func (rw *responseWriter) started() bool {
	rw.st.mu.Lock()
	defer rw.st.mu.Unlock()
	return rw.wroteHeader
}

func (rw *responseWriter) WriteHeader(code int) {
	rw.st.mu.Lock()
	defer rw.st.mu.Unlock()
	if rw.st.timedOut != nil {
		return
	}
	rw.writeHeaderLocked(code)
}

func (rw *responseWriter) writeHeaderLocked(code int) {
	if rw.wroteHeader {
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		rw.wroteHeader = true
		rw.status = code
		rw.st.info.ResponseHeader = rw.w.Header()
		rw.setServer()
		setDate(rw.w.Header())
		if rw.st.cm.s.via != "" {
			rw.w.Header().Add("Via", rw.st.cm.s.via)
		}
		if rw.st.cm.s.alwaysSetReqID && rw.st.info.RequestID != "" {
			rw.w.Header().Set("X-Request-Id", rw.st.info.RequestID)
		}
	}
	rw.w.WriteHeader(code)
}

func (rw *responseWriter) setServer() {
	h := rw.w.Header()
	switch rw.st.cm.s.serverHeader {
	case hcmv3.HttpConnectionManager_OVERWRITE:
		h["Server"] = rw.st.cm.serverValue
	case hcmv3.HttpConnectionManager_APPEND_IF_ABSENT:
		if v := h["Server"]; len(v) == 0 || v[0] == "" {
			h["Server"] = rw.st.cm.serverValue
		}
	}
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	rw.st.mu.Lock()
	defer rw.st.mu.Unlock()
	if rw.st.timedOut != nil {
		return 0, errTimedOut
	}
	if !rw.wroteHeader {
		rw.writeHeaderLocked(http.StatusOK)
	}
	n, err := rw.w.Write(p)
	rw.st.info.BytesSent.Add(uint64(n))
	if rw.st.expiring.Load() != nil {
		rw.st.timedOutWhileWriting()
	}
	rw.st.touch()
	return n, err
}

// writeLocked sends a local reply; st.mu is held.
func (rw *responseWriter) writeLocked(code int, body string) {
	h := rw.w.Header()
	for k := range h {
		delete(h, k)
	}
	if rw.closeConn {
		h.Set("Connection", "close")
	}
	if body != "" {
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	rw.writeHeaderLocked(code)
	if body != "" {
		n, _ := rw.w.Write([]byte(body))
		rw.st.info.BytesSent.Add(uint64(n))
	}
	if f, ok := rw.w.(http.Flusher); ok {
		f.Flush()
	}
}

// localReply answers a request the manager rejects itself.
func (rw *responseWriter) localReply(code int, body string) {
	rw.st.mu.Lock()
	defer rw.st.mu.Unlock()
	rw.writeLocked(code, body)
}

func (rw *responseWriter) Flush() {
	rw.st.mu.Lock()
	defer rw.st.mu.Unlock()
	if rw.st.timedOut != nil {
		return
	}
	if !rw.wroteHeader {
		rw.writeHeaderLocked(http.StatusOK)
	}
	if f, ok := rw.w.(http.Flusher); ok {
		f.Flush()
	}
	if rw.st.expiring.Load() != nil {
		rw.st.timedOutWhileWriting()
	}
}

// Hijack hands an upgraded HTTP/1 connection to the router.
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := rw.w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hcm: connection cannot be hijacked")
	}
	rw.st.mu.Lock()
	rw.wroteHeader = true
	if rw.status == 0 {
		rw.status = http.StatusSwitchingProtocols
	}
	rw.st.mu.Unlock()
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the codec's writer.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.w }

var _ = failure.Flags(0)

// CanCancelRequest tells the router that CancelRequest works: it may end
// the request's own context with its timeouts instead of deriving one.
func (rw *responseWriter) CanCancelRequest() bool { return true }

// CancelRequest ends the context of the request this stream serves with
// cause. The caller must not call it once its handler has returned: the
// stream then serves another request.
func (rw *responseWriter) CancelRequest(cause error) { rw.st.cancelWith(cause) }
