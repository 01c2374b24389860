package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
)

// framedReader reads one message body from br in the framing its head
// declared. Errors are sticky. It is not safe for concurrent use; the
// server and client body types around it add locking and lifecycle.
type framedReader struct {
	br    *bufio.Reader
	kind  bodyKind
	n     int64 // bodyFixed: bytes left; bodyChunked: bytes left in the chunk
	state chunkState
	err   error
	// trailer receives the trailer section of a chunked body.
	trailer *http.Header
	tp      *headParser // parses the trailer section, made on first use
	// maxTrailer bounds the trailer section's bytes.
	maxTrailer int
}

type chunkState uint8

const (
	chunkSize    chunkState = iota // expecting a chunk-size line
	chunkData                      // inside chunk data
	chunkCRLF                      // expecting the CRLF after chunk data
	chunkTrailer                   // expecting the trailer section
)

// maxChunkLine bounds a chunk-size line with its extensions.
const maxChunkLine = 4 << 10

func (r *framedReader) init(br *bufio.Reader, f framing, trailer *http.Header, maxTrailer int) {
	*r = framedReader{br: br, kind: f.kind, n: f.length, trailer: trailer, maxTrailer: maxTrailer}
	if f.kind == bodyNone {
		r.err = io.EOF
	}
}

// done reports whether the body has been read to its end.
func (r *framedReader) done() bool { return r.err == io.EOF }

func (r *framedReader) read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	switch r.kind {
	case bodyFixed:
		n, r.err = r.readFixed(p)
	case bodyChunked:
		n, r.err = r.readChunked(p)
	case bodyUntilEOF:
		n, r.err = r.br.Read(p)
	}
	return n, r.err
}

func (r *framedReader) readFixed(p []byte) (int, error) {
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	n, err := r.br.Read(p)
	r.n -= int64(n)
	if r.n == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// readChunked decodes chunks into p. Once it holds data it stops before
// anything that would block, but it runs ahead through framing that is
// already buffered, so the last data read usually reports io.EOF too.
func (r *framedReader) readChunked(p []byte) (n int, err error) {
	for {
		switch r.state {
		case chunkSize:
			if n > 0 && !r.buffered(lineEnd) {
				return n, nil
			}
			if err := r.readChunkSize(); err != nil {
				return n, err
			}
		case chunkData:
			if n == len(p) || (n > 0 && r.br.Buffered() == 0) {
				return n, nil
			}
			q := p[n:]
			if int64(len(q)) > r.n {
				q = q[:r.n]
			}
			m, err := r.br.Read(q)
			n += m
			r.n -= int64(m)
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return n, err
			}
			if r.n == 0 {
				r.state = chunkCRLF
			}
		case chunkCRLF:
			if n > 0 && r.br.Buffered() < 2 {
				return n, nil
			}
			if err := r.expectCRLF(); err != nil {
				return n, err
			}
			r.state = chunkSize
		case chunkTrailer:
			if n > 0 && !r.buffered(trailerEnd) {
				return n, nil
			}
			if err := r.readTrailer(); err != nil {
				return n, err
			}
			return n, io.EOF
		}
	}
}

func lineEnd(b []byte) bool { return bytes.IndexByte(b, '\n') >= 0 }

func trailerEnd(b []byte) bool {
	return bytes.HasPrefix(b, crlf) || bytes.Index(b, crlfcrlf) >= 0
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// buffered reports whether the bytes already buffered satisfy complete.
func (r *framedReader) buffered(complete func([]byte) bool) bool {
	b, _ := r.br.Peek(r.br.Buffered())
	return complete(b)
}

func (r *framedReader) expectCRLF() error {
	c1, err := r.br.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	c2, err := r.br.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	if c1 != '\r' || c2 != '\n' {
		return errBadChunk
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *framedReader) readChunkSize() error {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && len(long) <= maxChunkLine {
			line, err = r.br.ReadSlice('\n')
			long = append(long, line...)
		}
		if len(long) > maxChunkLine {
			return errChunkSize
		}
		line = long
	}
	if err != nil {
		return unexpected(err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return errBadChunk
	}
	size, err := parseChunkSize(line[:len(line)-2])
	if err != nil {
		return err
	}
	if size == 0 {
		r.state = chunkTrailer
		return nil
	}
	r.n = size
	r.state = chunkData
	return nil
}

// parseChunkSize parses chunk-size [ BWS ";" chunk-ext ]. Extensions are
// accepted and ignored, as Envoy does, but may not hold control bytes.
func parseChunkSize(line []byte) (int64, error) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		if n > (1<<62)>>4 {
			return 0, errChunkTooBig
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, errChunkSize
	}
	ext := trimOWS(line[i:])
	if len(ext) > 0 && (ext[0] != ';' || !validFieldValue(ext)) {
		return 0, errChunkSize
	}
	return n, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// readTrailer parses the trailer section into *r.trailer. Fields that
// would change framing or routing if merged into a header are dropped
// (RFC 9110 §6.5.1).
func (r *framedReader) readTrailer() error {
	if r.tp == nil {
		r.tp = new(headParser)
	}
	r.tp.reset(r.maxTrailer, defaultMaxFields, false)
	if err := r.tp.readFields(r.br); err != nil {
		return unexpected(err)
	}
	if len(r.tp.fields) == 0 {
		return nil
	}
	got := make(http.Header, len(r.tp.fields))
	r.tp.build(got, nil)
	if *r.trailer == nil {
		*r.trailer = make(http.Header, len(got))
	}
	for k, vv := range got {
		if forbiddenTrailer(k) {
			continue
		}
		(*r.trailer)[k] = vv
	}
	return nil
}

func forbiddenTrailer(k string) bool {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Trailer", "Host", "Connection",
		"Content-Type", "Content-Encoding", "Te", "Upgrade":
		return true
	}
	return false
}

// declaredTrailer moves the keys a chunked message announced in its
// Trailer field into a trailer map with nil values, as net/http does, so
// that a handler knows which trailers to expect.
func declaredTrailer(h http.Header) http.Header {
	vv, ok := h["Trailer"]
	if !ok {
		return nil
	}
	delete(h, "Trailer")
	var t http.Header
	for _, v := range vv {
		for len(v) > 0 {
			var item string
			if i := indexByte(v, ','); i >= 0 {
				item, v = v[:i], v[i+1:]
			} else {
				item, v = v, ""
			}
			item = trimOWSString(item)
			if !isToken(item) {
				continue
			}
			k := http.CanonicalHeaderKey(item)
			if forbiddenTrailer(k) {
				continue
			}
			if t == nil {
				t = make(http.Header)
			}
			t[k] = nil
		}
	}
	return t
}
