package http1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// max1xx bounds informational responses before the final one, so an
// upstream cannot hold an exchange with an endless stream of them.
const max1xx = 16

var headParserPool = sync.Pool{New: func() any { return new(headParser) }}

// readResponse reads response heads until the final one and sets up its
// body. On error the read part is finished (and the connection released).
func (ex *exchange) readResponse() (*http.Response, error) {
	cc := ex.cc
	ex.br = getReader(cc.conn)
	hp := headParserPool.Get().(*headParser)
	defer headParserPool.Put(hp)
	recordCase := cc.preserveCase || HeaderCaseFrom(ex.req.Context()) != nil
	trace := httptrace.ContextClientTrace(ex.req.Context())
	for n := 0; ; n++ {
		hp.reset(cc.maxHeadBytes, defaultMaxFields, recordCase)
		h := cc.header
		if trace != nil {
			// Got1xxResponse may keep the informational responses'
			// headers: each response gets a map of its own.
			h = nil
		}
		clear(h)
		resp, hc, err := readResponseHead(&ex.resp, h, ex.br, hp, ex.req, n == 0)
		if err != nil {
			putReader(ex.br)
			ex.finish(partRead, false, true)
			return nil, ex.wrap(err)
		}
		code := resp.StatusCode
		if code >= 200 || code == http.StatusSwitchingProtocols {
			return ex.setBody(resp, hc, h != nil)
		}
		if n == max1xx {
			putReader(ex.br)
			ex.finish(partRead, false, true)
			return nil, protoErr(http.StatusBadGateway, detailTooMany1xx, "too many informational responses")
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				putReader(ex.br)
				ex.finish(partRead, false, true)
				return nil, err
			}
		}
	}
}

var (
	errStatusLine = protoErr(http.StatusBadGateway, detailInvalidStatus, "malformed status line")
	errTruncated  = protoErr(http.StatusBadGateway, detailTruncatedHead, "connection closed inside the response head")
)

// readResponseHead reads one status line and header section into resp,
// its fields into h (empty), or a new map when h is nil.
func readResponseHead(resp *http.Response, h http.Header, br *bufio.Reader, hp *headParser, req *http.Request, first bool) (*http.Response, HeaderCase, error) {
	line, err := hp.line(br)
	if err == nil {
		err = checkStatusLine(line)
	}
	if err == nil {
		hp.startLine(line)
		err = hp.readFields(br)
	}
	if err != nil {
		var pe *ProtocolError
		switch {
		case errors.As(err, &pe):
			return nil, nil, err
		case first && !hp.consumed && closedByPeer(err):
			return nil, nil, fmt.Errorf("%w: %w", ErrClosedBeforeResponse, err)
		case err == io.EOF:
			return nil, nil, errTruncated
		}
		return nil, nil, err
	}
	if h == nil {
		h = make(http.Header, len(hp.fields))
	}
	start, hc := hp.build(h, nil)
	*resp = http.Response{
		Status:     start[9:],
		StatusCode: int(start[9]-'0')*100 + int(start[10]-'0')*10 + int(start[11]-'0'),
		Proto:      start[:8],
		ProtoMajor: 1,
		ProtoMinor: int(start[7] - '0'),
		Header:     h,
		Request:    req,
	}
	switch resp.Proto {
	case "HTTP/1.1":
		resp.Proto = "HTTP/1.1"
	case "HTTP/1.0":
		resp.Proto = "HTTP/1.0"
	}
	if len(resp.Status) == 3 {
		resp.Status = resp.Status + " " + http.StatusText(resp.StatusCode)
	}
	return resp, hc, nil
}

// checkStatusLine validates HTTP/1.x SP 3DIGIT [SP reason-phrase].
func checkStatusLine(line []byte) error {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return errStatusLine
	}
	if line[7] < '0' || line[7] > '9' {
		return errStatusLine
	}
	code := line[9:12]
	for _, c := range code {
		if c < '0' || c > '9' {
			return errStatusLine
		}
	}
	if code[0] < '1' || code[0] > '5' {
		return errStatusLine
	}
	if len(line) > 12 && (line[12] != ' ' || !validFieldValue(line[13:])) {
		return errStatusLine
	}
	return nil
}

// closedByPeer reports errors that mean the peer closed or reset the
// connection.
func closedByPeer(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// setBody decides the response framing and attaches the streaming body.
// sharedHeader: resp.Header is the connection's reused map.
func (ex *exchange) setBody(resp *http.Response, hc HeaderCase, sharedHeader bool) (*http.Response, error) {
	req := ex.req
	h := resp.Header
	http10 := resp.ProtoMinor == 0
	code := resp.StatusCode
	b := &ex.rb
	b.ex, b.hc = ex, hc
	var f framing
	switch {
	case code == http.StatusSwitchingProtocols, req.Method == http.MethodConnect && code/100 == 2:
		b.upgrade = true
		f.kind = bodyNone
	case !bodyAllowed(code, req.Method):
		f.kind = bodyNone
		resp.ContentLength = 0
		if cl, ok := h["Content-Length"]; ok && len(cl) == 1 && req.Method == http.MethodHead {
			if n, ok := parseDecimal(cl[0]); ok {
				resp.ContentLength = n
			}
		}
	default:
		var err error
		f, err = parseFraming(h, http10, true)
		if err != nil {
			putReader(ex.br)
			ex.finish(partRead, false, true)
			return nil, err
		}
	}
	if f.kind == bodyNone && !b.upgrade && sharedHeader {
		// The exchange ends now, before the caller has seen the header:
		// the connection's next response must not clear it.
		resp.Header = maps.Clone(h)
	}
	switch f.kind {
	case bodyFixed:
		resp.ContentLength = f.length
	case bodyChunked:
		resp.ContentLength = -1
		resp.TransferEncoding = []string{"chunked"}
		delete(h, "Transfer-Encoding")
		resp.Trailer = declaredTrailer(h)
	case bodyUntilEOF:
		resp.ContentLength = -1
	}
	conn := h["Connection"]
	b.close = f.kind == bodyUntilEOF || req.Close || hasToken(conn, "close") ||
		hasToken(req.Header["Connection"], "close") ||
		(http10 && !hasToken(conn, "keep-alive"))
	resp.Close = b.close
	b.fr.init(ex.br, f, &resp.Trailer, ex.cc.maxHeadBytes)
	ex.body = b
	resp.Body = b
	if b.upgrade {
		ex.cc.mu.Lock()
		if ex.cc.state == ccBusy {
			ex.cc.state = ccUpgraded
		}
		ex.cc.mu.Unlock()
		return resp, nil
	}
	if f.kind == bodyNone {
		b.mu.Lock()
		b.end(nil)
		b.mu.Unlock()
	}
	return resp, nil
}

// responseBody streams a response body and finishes the exchange's read
// part exactly once: at EOF, on error, or on Close.
type responseBody struct {
	ex      *exchange
	hc      HeaderCase
	close   bool // the connection ends with this response
	upgrade bool // 101 or CONNECT 2xx: empty, and the connection may be hijacked

	closed atomic.Bool // Close was called
	mu     sync.Mutex  // held by Read while it uses the reader
	fr     framedReader
	ended  bool
	err    error // returned by reads after the end
	hijack bool
}

func (b *responseBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return 0, b.err
	}
	if b.upgrade {
		return 0, io.EOF
	}
	n, err := b.fr.read(p)
	switch {
	case err == io.EOF:
		b.end(nil)
	case err != nil:
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			err = b.ex.wrap(err)
		}
		b.end(err)
	case b.closed.Load():
		b.end(ErrBodyClosed)
	}
	return n, err
}

// end finishes the read part; err is nil at a clean end of the body. The
// caller holds b.mu.
func (b *responseBody) end(err error) {
	if err == nil {
		b.ex.awaitWrite()
	}
	b.ended = true
	b.err = err
	if err == nil {
		b.err = io.EOF
	}
	reusable := err == nil && !b.close && b.fr.br.Buffered() == 0
	if !b.hijack {
		putReader(b.fr.br)
	}
	b.ex.finish(partRead, reusable, err != nil)
}

// Close ends the body. A remainder already buffered is discarded so the
// connection can be reused; anything else closes the connection.
func (b *responseBody) Close() error {
	b.closed.Store(true)
	if !b.mu.TryLock() {
		// A Read is in flight, maybe blocked: closing the connection
		// ends it, and it finishes the exchange.
		b.ex.cc.conn.Close()
		return nil
	}
	defer b.mu.Unlock()
	if b.ended {
		return nil
	}
	if b.fr.kind == bodyFixed && !b.upgrade && b.fr.n <= int64(b.fr.br.Buffered()) {
		b.fr.br.Discard(int(b.fr.n))
		b.end(nil)
		return nil
	}
	b.end(ErrBodyClosed)
	return nil
}

// headerCase returns the recorded case of the response's header names.
func (b *responseBody) headerCase() HeaderCase { return b.hc }

func (cc *ClientConn) hijack() (net.Conn, *bufio.Reader) {
	cc.mu.Lock()
	ex := cc.ex
	if cc.state != ccUpgraded || ex == nil {
		cc.mu.Unlock()
		return nil, nil
	}
	cc.state = ccDead
	cc.mu.Unlock()
	if ex.writeDone != nil {
		<-ex.writeDone
	}
	b := ex.body
	b.mu.Lock()
	b.hijack = true
	b.ended = true
	b.err = io.EOF
	b.mu.Unlock()
	ex.mu.Lock()
	ex.released = true
	ex.unwatch()
	ex.mu.Unlock()
	cc.release(false, true)
	return cc.conn, ex.br
}

// writeGrace is how long a complete response waits for the request body's
// last write to be acknowledged before the connection is given up: the
// upstream usually answers only after reading the whole request, and the
// writer goroutine may just not have run yet.
const writeGrace = 50 * time.Millisecond

func (ex *exchange) awaitWrite() {
	if ex.writeDone == nil {
		return
	}
	select {
	case <-ex.writeDone:
		return
	default:
	}
	t := time.NewTimer(writeGrace)
	select {
	case <-ex.writeDone:
	case <-t.C:
	}
	t.Stop()
}
