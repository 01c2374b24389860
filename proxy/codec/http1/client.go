package http1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
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
	if w := watchedRequest(ctx); w != nil && w.watch(cc) {
		ex.watched = w
	} else if ctx.Done() != nil {
		ex.stop = context.AfterFunc(ctx, cc.abortFn)
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
