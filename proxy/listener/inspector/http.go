package inspector

import (
	"bufio"
	"bytes"
)

// h2Preface is the HTTP/2 client connection preface (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// InspectHTTP peeks at r for an HTTP/1.x request line or the h2c preface
// and returns "http/1.1", "http/1.0", "h2c", or "" when the bytes are not
// HTTP. It reads only as far as it must to decide: a request line longer
// than r's buffer is not HTTP as far as the inspector goes.
func InspectHTTP(r *bufio.Reader) (string, error) {
	have := 0
	for {
		b, err := r.Peek(have + 1)
		if err != nil {
			if have > 0 && err == bufio.ErrBufferFull {
				return "", nil
			}
			return "", err
		}
		b, _ = r.Peek(r.Buffered())
		proto, done := classify(b)
		if done {
			return proto, nil
		}
		have = len(b)
	}
}

// classify decides from the bytes seen so far; done is false when more
// bytes are needed.
func classify(b []byte) (proto string, done bool) {
	n := min(len(b), len(h2Preface))
	if string(b[:n]) == h2Preface[:n] {
		if n == len(h2Preface) {
			return "h2c", true
		}
		return "", false
	}
	// method SP request-target SP HTTP/1.x CRLF
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		if !isToken(b) {
			return "", true
		}
		return "", false
	}
	if sp == 0 || !isToken(b[:sp]) {
		return "", true
	}
	eol := bytes.IndexByte(b, '\n')
	if eol < 0 {
		return "", false
	}
	line := bytes.TrimSuffix(b[:eol], []byte{'\r'})
	last := bytes.LastIndexByte(line, ' ')
	if last <= sp {
		return "", true
	}
	switch string(line[last+1:]) {
	case "HTTP/1.1":
		return "http/1.1", true
	case "HTTP/1.0":
		return "http/1.0", true
	}
	return "", true
}

func isToken(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}

// IsH2Preface reports whether the connection starts with the HTTP/2
// client preface, reading only as many bytes as it takes to tell.
func IsH2Preface(r *bufio.Reader) (bool, error) {
	for have := 1; ; {
		b, err := r.Peek(have)
		if err != nil {
			return false, err
		}
		b, _ = r.Peek(min(r.Buffered(), len(h2Preface)))
		if string(b) != h2Preface[:len(b)] {
			return false, nil
		}
		if len(b) == len(h2Preface) {
			return true, nil
		}
		have = len(b) + 1
	}
}
