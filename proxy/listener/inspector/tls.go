// Package inspector holds the listener filters that look at a connection's
// first bytes without consuming them: tls_inspector (SNI and ALPN from a
// TLS ClientHello) and http_inspector (HTTP/1.x request line or the h2c
// preface). Both peek through the connection's bufio.Reader, so the
// network filter later reads every byte again.
package inspector

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// MaxClientHello bounds the ClientHello tls_inspector reads, as Envoy's
// default max_client_hello_size does.
const MaxClientHello = 16 * 1024

// TLSResult is what tls_inspector learned.
type TLSResult struct {
	IsTLS      bool
	ServerName string
	ALPN       []string
}

// errNotTLS stops parsing when the bytes are not a ClientHello.
var errNotTLS = errors.New("inspector: not a tls client hello")

// InspectTLS peeks at r for a TLS ClientHello. It returns the reader to use
// from now on: r itself, or a larger reader holding the same bytes when the
// ClientHello does not fit in r's buffer (the raw connection stays
// positioned after everything buffered). Errors come from reading
// (timeouts, EOF); bytes that are not TLS give IsTLS false and no error.
func InspectTLS(r *bufio.Reader, conn io.Reader) (TLSResult, *bufio.Reader, error) {
	first, err := r.Peek(1)
	if err != nil {
		return TLSResult{}, r, err
	}
	if first[0] != 0x16 { // handshake record
		return TLSResult{}, r, nil
	}
	hdr, err := r.Peek(5)
	if err != nil {
		return TLSResult{}, r, err
	}
	if hdr[1] != 3 {
		return TLSResult{}, r, nil
	}
	recLen := int(hdr[3])<<8 | int(hdr[4])
	if recLen < 4 || recLen > MaxClientHello {
		return TLSResult{IsTLS: true}, r, nil
	}
	need := 5 + recLen
	if need > r.Size() {
		r = grow(r, conn, need)
	}
	rec, err := r.Peek(need)
	if err != nil {
		return TLSResult{}, r, err
	}
	res, perr := parseClientHello(rec[5:])
	if perr != nil {
		// A handshake record we cannot read (fragmented ClientHello, or
		// garbage) is still TLS as far as chain matching goes.
		return TLSResult{IsTLS: true}, r, nil
	}
	return res, r, nil
}

// grow returns a reader of at least size bytes that yields r's buffered
// bytes and then conn. Everything r buffered moves into the new reader on
// its first fill, so the raw connection's position is unchanged.
func grow(r *bufio.Reader, conn io.Reader, size int) *bufio.Reader {
	buffered, _ := r.Peek(r.Buffered())
	held := bytes.Clone(buffered)
	return bufio.NewReaderSize(io.MultiReader(bytes.NewReader(held), conn), size)
}

// parseClientHello reads SNI and ALPN from a handshake message that starts
// with a ClientHello (RFC 8446 §4.1.2).
func parseClientHello(b []byte) (TLSResult, error) {
	res := TLSResult{IsTLS: true}
	if len(b) < 4 || b[0] != 1 {
		return res, errNotTLS
	}
	n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	b = b[4:]
	if n > len(b) {
		return res, errNotTLS // fragmented over several records
	}
	s := cursor(b[:n])
	if !s.skip(2+32) || !s.skipVec(1) || !s.skipVec(2) || !s.skipVec(1) {
		return res, errNotTLS
	}
	if len(s) == 0 {
		return res, nil // no extensions
	}
	exts, ok := s.vec(2)
	if !ok {
		return res, errNotTLS
	}
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		body, ok2 := exts.vec(2)
		if !ok1 || !ok2 {
			return res, errNotTLS
		}
		switch typ {
		case 0: // server_name
			list, ok := body.vec(2)
			for ok && len(list) > 0 {
				kind, _ := list.u8()
				name, ok2 := list.vec(2)
				if !ok2 {
					break
				}
				if kind == 0 {
					res.ServerName = string(name)
					break
				}
			}
		case 16: // application_layer_protocol_negotiation
			list, ok := body.vec(2)
			for ok && len(list) > 0 {
				p, ok2 := list.vec(1)
				if !ok2 {
					break
				}
				res.ALPN = append(res.ALPN, string(p))
			}
		}
	}
	return res, nil
}

// cursor reads big-endian TLS vectors.
type cursor []byte

func (c *cursor) skip(n int) bool {
	if len(*c) < n {
		return false
	}
	*c = (*c)[n:]
	return true
}

func (c *cursor) u8() (int, bool) {
	if len(*c) < 1 {
		return 0, false
	}
	v := int((*c)[0])
	*c = (*c)[1:]
	return v, true
}

func (c *cursor) u16() (int, bool) {
	if len(*c) < 2 {
		return 0, false
	}
	v := int((*c)[0])<<8 | int((*c)[1])
	*c = (*c)[2:]
	return v, true
}

// vec reads a vector whose length prefix has lenBytes bytes.
func (c *cursor) vec(lenBytes int) (cursor, bool) {
	var n int
	for i := 0; i < lenBytes; i++ {
		b, ok := c.u8()
		if !ok {
			return nil, false
		}
		n = n<<8 | b
	}
	if len(*c) < n {
		return nil, false
	}
	v := (*c)[:n]
	*c = (*c)[n:]
	return v, true
}

func (c *cursor) skipVec(lenBytes int) bool {
	_, ok := c.vec(lenBytes)
	return ok
}
