package http1

import (
	"bufio"
	"bytes"
	"net/http"
)

// Defaults shared by both sides (Envoy's).
const (
	defaultMaxHeadBytes = 60 << 10
	defaultMaxFields    = 100
)

// headParser reads one message head (start line, header fields, blank line)
// strictly, then turns it into strings with a single allocation: every
// name and value is a substring of one string built from buf.
type headParser struct {
	buf    []byte // start line, then each field's canonical name, original name, value
	long   []byte // assembles a line longer than the reader's buffer
	fields []fieldSpan
	start  span
	budget int // head bytes still allowed
	max    int // field count allowed
	// recordCase keeps the wire spelling of names that are not canonical.
	recordCase bool
	// consumed reports whether any byte of this head has been read, to tell
	// a peer that closed between messages from one that stopped mid-head.
	consumed bool
}

type span struct{ off, end int }

type fieldSpan struct {
	name, orig, value span // orig is empty unless the wire case differed and recordCase
}

// maxRetainedBuf bounds the scratch space kept between heads, so one huge
// head does not pin memory on a long-lived connection.
const maxRetainedBuf = 16 << 10

func (p *headParser) reset(maxBytes, maxFields int, recordCase bool) {
	if cap(p.buf) > maxRetainedBuf {
		p.buf = nil
	}
	if cap(p.long) > maxRetainedBuf {
		p.long = nil
	}
	p.buf = p.buf[:0]
	p.fields = p.fields[:0]
	p.start = span{}
	p.budget = maxBytes
	p.max = maxFields
	p.recordCase = recordCase
	p.consumed = false
}

var (
	errHeadTooLarge = protoErr(http.StatusRequestHeaderFieldsTooLarge, detailHeadersTooLarge, "head exceeds the size limit")
	errTooManyField = protoErr(http.StatusRequestHeaderFieldsTooLarge, detailTooManyHeaders, "too many header fields")
	errBareLF       = badRequest(detailCodecError, "line not terminated by CRLF")
	errObsFold      = badRequest(detailCodecError, "obsolete line folding")
	errNoColon      = badRequest(detailCodecError, "header field without a colon")
	errFieldName    = badRequest(detailInvalidChars, "invalid character in header field name")
	errFieldValue   = badRequest(detailInvalidChars, "invalid character in header field value")
)

// line returns the next line without its CRLF; the slice is valid until
// the next read from br. Network errors are returned as they are.
func (p *headParser) line(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		p.long = append(p.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(p.long) > p.budget {
				return nil, errHeadTooLarge
			}
			line, err = br.ReadSlice('\n')
			p.long = append(p.long, line...)
		}
		line = p.long
	}
	if len(line) > 0 {
		p.consumed = true
	}
	if err != nil {
		return nil, err
	}
	if len(line) > p.budget {
		return nil, errHeadTooLarge
	}
	p.budget -= len(line)
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errBareLF
	}
	return line[:len(line)-2], nil
}

// startLine records the start line, validated by the caller.
func (p *headParser) startLine(line []byte) {
	p.start = p.appendSpan(line)
}

func (p *headParser) appendSpan(b []byte) span {
	off := len(p.buf)
	p.buf = append(p.buf, b...)
	return span{off, len(p.buf)}
}

func (p *headParser) bytes(s span) []byte { return p.buf[s.off:s.end] }

// field validates one header line and records it.
func (p *headParser) field(line []byte) error {
	if len(p.fields) >= p.max {
		return errTooManyField
	}
	if line[0] == ' ' || line[0] == '\t' {
		return errObsFold
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return errNoColon
	}
	name := line[:colon]
	if colon == 0 || !isToken(name) {
		return errFieldName
	}
	value := trimOWS(line[colon+1:])
	if !validFieldValue(value) {
		return errFieldValue
	}
	var f fieldSpan
	f.name = p.appendSpan(name)
	if canonicalize(p.bytes(f.name)) && p.recordCase {
		f.orig = p.appendSpan(name)
	}
	f.value = p.appendSpan(value)
	p.fields = append(p.fields, f)
	return nil
}

// readFields reads field lines up to and including the blank line.
func (p *headParser) readFields(br *bufio.Reader) error {
	for {
		line, err := p.line(br)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if err := p.field(line); err != nil {
			return err
		}
	}
}

// build converts the head into strings: the start line, and the fields
// added to h (which must not be nil). When recordCase is set, names whose
// wire case differs from the canonical one are recorded in the returned
// HeaderCase (nil when none differ). With host set, Host fields are
// counted there instead of entering h: a request's Host becomes
// Request.Host, and a map entry would only be added to be deleted.
func (p *headParser) build(h http.Header, host *hostFields) (start string, hc HeaderCase) {
	s := string(p.buf)
	var vals []string
	if len(p.fields) > 0 {
		vals = make([]string, len(p.fields))
	}
	for i, f := range p.fields {
		key, ok := commonKeys[string(p.bytes(f.name))]
		if !ok {
			key = s[f.name.off:f.name.end]
		}
		if f.orig.end > 0 {
			if hc == nil {
				hc = make(HeaderCase)
			}
			hc[key] = s[f.orig.off:f.orig.end]
		}
		v := s[f.value.off:f.value.end]
		if host != nil && key == "Host" {
			if host.n == 0 {
				host.value = v
			}
			host.n++
			continue
		}
		vals[i] = v
		if vv, ok := h[key]; ok {
			h[key] = append(vv, v)
		} else {
			h[key] = vals[i : i+1 : i+1]
		}
	}
	return s[p.start.off:p.start.end], hc
}

// hostFields is what build found of a request's Host fields.
type hostFields struct {
	value string // the first one's
	n     int
}

// canonicalize rewrites a token in place in http.CanonicalHeaderKey's form
// and reports whether it changed.
func canonicalize(b []byte) (changed bool) {
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			b[i] = c
			changed = true
		}
		upper = c == '-'
	}
	return changed
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// tokenTable marks tchar (RFC 9110 §5.6.2).
var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken[T string | []byte](b T) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if !tokenTable[b[i]] {
			return false
		}
	}
	return true
}

// validFieldValue rejects CTLs other than HTAB (NUL, bare CR and LF among
// them) and DEL; obs-text (0x80-0xFF) is allowed, as RFC 9110 and Envoy do.
func validFieldValue[T string | []byte](v T) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// commonKeys interns frequent header names so that parsing them allocates
// nothing.
var commonKeys = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Origin", "Age", "Alt-Svc", "Authorization", "Cache-Control",
		"Connection", "Content-Disposition", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Range", "Content-Type", "Cookie", "Date", "Etag", "Expect",
		"Expires", "Forwarded", "From", "Grpc-Encoding", "Grpc-Accept-Encoding", "Grpc-Message",
		"Grpc-Status", "Grpc-Timeout", "Host", "If-Match", "If-Modified-Since", "If-None-Match",
		"If-Range", "Keep-Alive", "Last-Modified", "Link", "Location", "Origin", "Pragma",
		"Proxy-Authorization", "Proxy-Connection", "Range", "Referer", "Retry-After",
		"Sec-Websocket-Accept", "Sec-Websocket-Extensions", "Sec-Websocket-Key",
		"Sec-Websocket-Protocol", "Sec-Websocket-Version", "Server", "Set-Cookie",
		"Strict-Transport-Security", "Te", "Traceparent", "Tracestate", "Trailer",
		"Transfer-Encoding", "Upgrade", "User-Agent", "Vary", "Via", "Www-Authenticate",
		"X-B3-Parentspanid", "X-B3-Sampled", "X-B3-Spanid", "X-B3-Traceid",
		"X-Content-Type-Options", "X-Envoy-Attempt-Count", "X-Envoy-Expected-Rq-Timeout-Ms",
		"X-Envoy-Upstream-Service-Time", "X-Forwarded-Client-Cert", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Frame-Options", "X-Powered-By",
		"X-Real-Ip", "X-Request-Id",
	} {
		m[k] = k
	}
	return m
}()
