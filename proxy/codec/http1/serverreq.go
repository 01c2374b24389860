package http1

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
)

var (
	errRequestLine  = badRequest(detailCodecError, "malformed request line")
	errMethod       = badRequest(detailCodecError, "invalid method")
	errTarget       = badRequest(detailInvalidURL, "invalid request target")
	errFragment     = badRequest(detailInvalidURL, "request target with a fragment")
	errVersion      = badRequest(detailUnsupportedProto, "unsupported HTTP version")
	errPreface      = badRequest(detailHTTP2Preface, "HTTP/2 connection preface on an HTTP/1 connection")
	errMissingHost  = badRequest(detailMissingHost, "HTTP/1.1 request without Host")
	errMultipleHost = badRequest(detailInvalidHost, "multiple Host fields")
	errBadHost      = badRequest(detailInvalidHost, "invalid Host")
	errConnectBody  = badRequest(detailBodyDisallowed, "CONNECT request with a body")
	errLowVersion   = protoErr(http.StatusUpgradeRequired, detailLowVersion, "HTTP/1.0 is not accepted")
)

// requestLine is the parsed request line; its strings are filled in once
// the head is converted to strings.
type requestLine struct {
	methodEnd, targetOff, targetEnd int // offsets in the start line
	minor                           int
}

// parseRequestLine validates method SP request-target SP HTTP-version.
func parseRequestLine(line []byte) (requestLine, error) {
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 == sp1 {
		return requestLine{}, errRequestLine
	}
	if !isToken(line[:sp1]) {
		return requestLine{}, errMethod
	}
	target := line[sp1+1 : sp2]
	if len(target) == 0 || !validTarget(string(target)) {
		return requestLine{}, errTarget
	}
	if bytes.IndexByte(target, '#') >= 0 {
		return requestLine{}, errFragment
	}
	rl := requestLine{methodEnd: sp1, targetOff: sp1 + 1, targetEnd: sp2}
	v := line[sp2+1:]
	switch {
	case string(v) == "HTTP/1.1":
		rl.minor = 1
	case string(v) == "HTTP/1.0":
		rl.minor = 0
	case len(v) == 8 && string(v[:7]) == "HTTP/1." && v[7] >= '2' && v[7] <= '9':
		// A later minor version is served as HTTP/1.1 (RFC 9110 §6.2).
		rl.minor = 1
	case string(v) == "HTTP/2.0" && string(line[:sp1]) == "PRI":
		return requestLine{}, errPreface
	default:
		return requestLine{}, errVersion
	}
	return rl, nil
}

// internMethod avoids an allocation for the usual methods.
func internMethod(m string) string {
	switch m {
	case "GET":
		return http.MethodGet
	case "POST":
		return http.MethodPost
	case "PUT":
		return http.MethodPut
	case "HEAD":
		return http.MethodHead
	case "DELETE":
		return http.MethodDelete
	case "OPTIONS":
		return http.MethodOptions
	case "PATCH":
		return http.MethodPatch
	case "CONNECT":
		return http.MethodConnect
	}
	return m
}

// parseTarget turns the request-target into a URL: origin-form, "*" for
// OPTIONS, absolute-form (its authority then wins over Host, RFC 9112
// §3.2.2), or authority-form for CONNECT only.
// The origin-form URL is filled in u, which the caller provides so that
// the usual request allocates no URL of its own.
func parseTarget(method, target string, u *url.URL) (_ *url.URL, authority string, err error) {
	switch {
	case target[0] == '/':
		if strings.IndexByte(target, '%') < 0 {
			// Nothing to unescape: build the URL without url.Parse.
			*u = url.URL{Path: target}
			if i := strings.IndexByte(target, '?'); i >= 0 {
				u.Path, u.RawQuery = target[:i], target[i+1:]
				u.ForceQuery = u.RawQuery == ""
			}
			return u, "", nil
		}
		u, err = url.ParseRequestURI(target)
	case target == "*":
		if method != http.MethodOptions {
			return nil, "", errTarget
		}
		*u = url.URL{Path: "*"}
		return u, "", nil
	case method == http.MethodConnect:
		if strings.ContainsAny(target, "/?@") || strings.IndexByte(target, ':') < 0 {
			return nil, "", errTarget
		}
		*u = url.URL{Host: target}
		return u, target, nil
	default:
		u, err = url.ParseRequestURI(target)
		if err == nil && (u.Host == "" || (u.Scheme != "http" && u.Scheme != "https")) {
			err = errTarget
		}
		if err == nil {
			authority = u.Host
		}
	}
	if err != nil {
		return nil, "", errTarget
	}
	return u, authority, nil
}

// validHost checks the Host field's characters (RFC 3986 reg-name, IP
// literal and port), as net/http and Envoy do.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !hostTable[h[i]] {
			return false
		}
	}
	return true
}

var hostTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!$%&'()*+,-.:;=[]_~" {
		t[c] = true
	}
	return t
}()

// readRequest reads and validates the next request head and builds the
// request and its response writer.
func (sc *serverConn) readRequest() (*response, error) {
	hp := &sc.hp
	hp.reset(sc.maxHead, defaultMaxFields, sc.preserveCase)
	var line []byte
	var err error
	for {
		// RFC 9112 §2.2: empty lines before a request line are ignored
		// (within the head's size limit).
		if line, err = hp.line(sc.br); err != nil {
			return nil, err
		}
		if len(line) > 0 {
			break
		}
	}
	rl, err := parseRequestLine(line)
	if err != nil {
		return nil, err
	}
	hp.startLine(line)
	if err := hp.readFields(sc.br); err != nil {
		return nil, err
	}
	if rl.minor == 0 && !sc.acceptHTTP10 {
		return nil, errLowVersion
	}
	h := make(http.Header, len(hp.fields))
	var hosts hostFields
	start, hc := hp.build(h, &hosts)
	method := internMethod(start[:rl.methodEnd])
	target := start[rl.targetOff:rl.targetEnd]
	w := &response{sc: sc, http10: rl.minor == 0}
	u, authority, err := parseTarget(method, target, &w.url)
	if err != nil {
		return nil, err
	}
	host := authority
	switch {
	case hosts.n > 1:
		return nil, errMultipleHost
	case hosts.n == 1:
		if !validHost(hosts.value) {
			return nil, errBadHost
		}
		if host == "" {
			host = hosts.value
		}
	case rl.minor == 1:
		return nil, errMissingHost
	}
	f, err := parseFraming(h, rl.minor == 0, false)
	if err != nil {
		return nil, err
	}
	if method == http.MethodConnect && f.kind != bodyNone {
		return nil, errConnectBody
	}

	w.parent = requestParent{Context: sc.base, w: w}
	ctx, cancel := context.WithCancelCause(&w.parent)
	if hc != nil {
		ctx = WithHeaderCase(ctx, hc)
	}
	// The request lives in its response: the copy WithContext makes is
	// inlined and does not escape, so it costs no allocation.
	var zero http.Request
	w.reqv = *zero.WithContext(ctx)
	req := &w.reqv
	req.Method = method
	req.URL = u
	req.RequestURI = target
	req.Proto = "HTTP/1.1"
	req.ProtoMajor, req.ProtoMinor = 1, rl.minor
	if rl.minor == 0 {
		req.Proto = "HTTP/1.0"
	}
	req.Header = h
	req.Host = host
	req.RemoteAddr = sc.remoteAddr
	conn := h["Connection"]
	if rl.minor == 0 {
		req.Close = !hasToken(conn, "keep-alive")
	} else {
		req.Close = hasToken(conn, "close")
	}
	expect := false
	if ev, ok := h["Expect"]; ok && hasToken(ev, "100-continue") {
		// The codec answers the expectation itself (hop by hop), as Envoy
		// does; it is not the handler's to forward.
		delete(h, "Expect")
		expect = rl.minor == 1 && f.kind != bodyNone
	}

	w.req, w.ctx, w.cancelCtx = req, ctx, cancel
	// The connection's one header map serves each response in turn.
	if sc.header == nil {
		sc.header = make(http.Header)
	} else {
		clear(sc.header)
	}
	w.header = sc.header
	switch f.kind {
	case bodyNone:
		req.Body = http.NoBody
	case bodyFixed:
		req.ContentLength = f.length
	case bodyChunked:
		req.ContentLength = -1
		req.TransferEncoding = chunkedTE
		delete(h, "Transfer-Encoding")
		req.Trailer = declaredTrailer(h)
	}
	if f.kind != bodyNone {
		w.body = &requestBody{w: w, expectContinue: expect}
		w.body.fr.init(sc.br, f, &req.Trailer, sc.maxHead)
		w.contPending = expect
		req.Body = w.body
	}
	return w, nil
}

// chunkedTE is shared by every chunked request: handlers only read it.
var chunkedTE = []string{"chunked"}
