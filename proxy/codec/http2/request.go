package http2

import (
	"context"
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// processHeaders opens a stream (or takes a stream's trailers) and
// schedules its handler.
func (sc *serverConn) processHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 != 1 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	sc.mu.Lock()
	if st := sc.streams[id]; st != nil {
		err := st.trailersLocked(f)
		sc.mu.Unlock()
		return err
	}
	if id <= sc.maxClientID {
		ours := sc.wasReset(id)
		sc.mu.Unlock()
		if ours {
			return nil // trailers sent before our RST_STREAM arrived
		}
		return http2.ConnectionError(http2.ErrCodeProtocol) // reused or closed
	}
	sc.maxClientID = id
	if sc.goingAway && id > sc.lastID {
		sc.mu.Unlock()
		return nil // after our GOAWAY: ignored, the client retries elsewhere
	}
	full := uint32(len(sc.streams)) >= sc.maxStreams
	sc.mu.Unlock()
	if f.HasPriority() && f.Priority.StreamDep == id {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if full {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
	}

	st := newStream(sc, id)
	if err := st.buildRequest(f); err != nil {
		return err
	}
	if sc.draining != nil && sc.draining() {
		sc.mu.Lock()
		going := sc.goingAway
		sc.mu.Unlock()
		if !going {
			defer sc.goAway(http2.ErrCodeNo) // keeps this stream
		}
	}
	return sc.open(st)
}

// open adds st to the table and starts its handler, or queues it.
func (sc *serverConn) open(st *stream) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.streams[st.id] = st
	if sc.curHandlers < sc.maxStreams {
		sc.curHandlers++
		sc.handlers.Add(1)
		go sc.runHandlers(st)
		return nil
	}
	if len(sc.queue) > int(queuedPerStream*sc.maxStreams) {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	sc.queue = append(sc.queue, st)
	return nil
}

// buildRequest makes the stream's *http.Request from its HEADERS, as
// x/net's server does; a malformed request is a stream error.
func (st *stream) buildRequest(f *http2.MetaHeadersFrame) error {
	id := st.id
	malformed := http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	var method, scheme, authority, path string
	for _, hf := range f.PseudoFields() {
		switch hf.Name {
		case ":method":
			method = hf.Value
		case ":scheme":
			scheme = hf.Value
		case ":authority":
			authority = hf.Value
		case ":path":
			path = hf.Value
		default:
			return malformed // :protocol (extended CONNECT is not offered), :status
		}
	}
	isConnect := method == "CONNECT"
	switch {
	case isConnect:
		if path != "" || scheme != "" || authority == "" {
			return malformed
		}
	case method == "" || path == "" || (scheme != "http" && scheme != "https"):
		return malformed
	}
	if !httpguts.ValidHeaderFieldName(method) { // a method is a token, as a field name is
		return malformed
	}

	regular := f.RegularFields()
	for _, hf := range regular {
		if isConnectionHeader(hf.Name) {
			return malformed // RFC 9113 8.2.2
		}
	}
	header := headerOf(regular, canonicalKey)
	if te, ok := header["Te"]; ok && (len(te) > 1 || te[0] != "trailers") {
		return malformed // RFC 9113 8.2.2
	}
	if host := header["Host"]; len(host) == 1 {
		if authority == "" {
			authority = host[0]
		} else if host[0] != authority {
			return malformed
		}
		delete(header, "Host")
	} else if len(host) > 1 {
		return malformed
	}
	if strings.IndexByte(authority, '@') >= 0 && (scheme == "http" || scheme == "https") {
		return malformed
	}
	if authority != "" && !httpguts.ValidHostHeader(authority) {
		return malformed
	}
	if cookies := header["Cookie"]; len(cookies) > 1 {
		header["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	if ex := header["Expect"]; ex != nil && httpguts.HeaderValuesContainsToken(ex, "100-continue") {
		st.needsContinue = true
		delete(header, "Expect")
	}
	var trailer http.Header
	for _, v := range header["Trailer"] {
		for _, key := range strings.Split(v, ",") {
			key = textproto.CanonicalMIMEHeaderKey(textproto.TrimString(key))
			switch key {
			case "Transfer-Encoding", "Trailer", "Content-Length", "":
			default:
				if trailer == nil {
					trailer = make(http.Header)
				}
				trailer[key] = nil
			}
		}
	}
	delete(header, "Trailer")

	var req http.Request // copied by WithContext below: stays on the stack
	r := &req
	r.Method, r.Header, r.Host, r.Trailer = method, header, authority, trailer
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.RemoteAddr = st.sc.remote
	if isConnect {
		st.url.Host = authority
		r.RequestURI = authority
	} else {
		if path[0] != '/' && path != "*" {
			return malformed
		}
		if !parsePath(&st.url, path) {
			return malformed
		}
		r.RequestURI = path
	}
	r.URL = &st.url

	if cl := header["Content-Length"]; len(cl) > 0 {
		n, err := strconv.ParseUint(cl[0], 10, 63)
		if err != nil {
			return malformed
		}
		for _, v := range cl[1:] {
			if v != cl[0] {
				return malformed
			}
		}
		st.declLen = int64(n)
	}
	if f.StreamEnded() {
		if st.declLen > 0 {
			return malformed
		}
		st.remoteDone = true
		st.bodyErr = errNoBody
		r.Body = http.NoBody
		r.ContentLength = 0
	} else {
		r.Body = &st.body
		r.ContentLength = st.declLen
	}
	st.truncated = f.Truncated
	st.sctx.Context, st.cancelFn = context.WithCancelCause(st.sc.baseCtx)
	st.ctx = &st.sctx
	st.req = r.WithContext(st.ctx)
	return nil
}

var errNoBody = errors.New("http2: request has no body")

// parsePath fills u from a request's :path. The common paths (no
// percent-encoding, no fragment) are split without url.ParseRequestURI's
// allocations; the rest go through it.
func parsePath(u *url.URL, path string) bool {
	q := -1
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '?':
			if q < 0 {
				q = i
			}
		case c == '%' || c == '#' || c <= ' ' || c >= 0x7f:
			parsed, err := url.ParseRequestURI(path)
			if err != nil {
				return false
			}
			*u = *parsed
			return true
		}
	}
	if q < 0 {
		u.Path = path
		return true
	}
	u.Path, u.RawQuery = path[:q], path[q+1:]
	if u.Path == "" {
		return false
	}
	return true
}

// trailersLocked takes a HEADERS frame on an open stream: its trailers.
func (st *stream) trailersLocked(f *http2.MetaHeadersFrame) error {
	id := st.id
	if st.remoteDone {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if st.declLen >= 0 && st.gotLen != st.declLen {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	for _, hf := range f.RegularFields() {
		key := canonicalKey(hf.Name)
		if !httpguts.ValidTrailerHeader(key) {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
		}
		if st.trailer == nil {
			st.trailer = make(http.Header)
		}
		st.trailer[key] = append(st.trailer[key], hf.Value)
	}
	st.remoteEndLocked()
	return nil
}
