package http1

import (
	"math"
	"net/http"
)

// bodyKind is how a message body is delimited (RFC 9112 §6.3).
type bodyKind uint8

const (
	bodyNone     bodyKind = iota // no body
	bodyFixed                    // Content-Length
	bodyChunked                  // Transfer-Encoding: chunked
	bodyUntilEOF                 // response read until the connection closes
)

// framing is the outcome of inspecting a head's Content-Length and
// Transfer-Encoding fields.
type framing struct {
	kind   bodyKind
	length int64 // for bodyFixed
}

var (
	errCLAndTE     = badRequest(detailCLAndChunked, "both Content-Length and Transfer-Encoding")
	errBadCL       = badRequest(detailInvalidCL, "invalid Content-Length")
	errMultipleCL  = badRequest(detailInvalidCL, "multiple Content-Length fields")
	errTENotImpl   = protoErr(http.StatusNotImplemented, detailInvalidTE, "transfer coding other than chunked")
	errTEinHTTP10  = badRequest(detailInvalidTE, "Transfer-Encoding in an HTTP/1.0 message")
	errBadChunk    = badRequest(detailInvalidChunk, "invalid chunk framing")
	errChunkSize   = badRequest(detailInvalidChunk, "invalid chunk size")
	errChunkTooBig = badRequest(detailInvalidChunk, "chunk size overflows")
)

// parseFraming applies RFC 9112 §6.3 strictly, as Envoy does: a message
// with both fields, with several or malformed Content-Length values, or
// with any transfer coding but a lone "chunked" is rejected rather than
// guessed at, since a proxy and its peer disagreeing on framing is how
// requests are smuggled.
//
// A response with neither field is read until the connection closes; a
// request with neither has no body.
func parseFraming(h http.Header, http10, response bool) (framing, error) {
	te, hasTE := h["Transfer-Encoding"]
	cl, hasCL := h["Content-Length"]
	if hasTE {
		if hasCL {
			return framing{}, errCLAndTE
		}
		if http10 {
			return framing{}, errTEinHTTP10
		}
		if len(te) != 1 || !equalFold(te[0], "chunked") {
			return framing{}, errTENotImpl
		}
		return framing{kind: bodyChunked}, nil
	}
	if hasCL {
		if len(cl) != 1 {
			return framing{}, errMultipleCL
		}
		n, ok := parseDecimal(cl[0])
		if !ok {
			return framing{}, errBadCL
		}
		if n == 0 {
			return framing{kind: bodyNone}, nil
		}
		return framing{kind: bodyFixed, length: n}, nil
	}
	if response {
		return framing{kind: bodyUntilEOF}, nil
	}
	return framing{kind: bodyNone}, nil
}

// parseDecimal parses 1*DIGIT without sign, space or overflow.
func parseDecimal(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// equalFold is ASCII case-insensitive equality; b must be lower case.
func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated values contain token
// (lower case), ignoring case and optional whitespace.
func hasToken(vv []string, token string) bool {
	for _, v := range vv {
		for len(v) > 0 {
			var item string
			if i := indexByte(v, ','); i >= 0 {
				item, v = v[:i], v[i+1:]
			} else {
				item, v = v, ""
			}
			if equalFold(trimOWSString(item), token) {
				return true
			}
		}
	}
	return false
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func trimOWSString(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// bodyAllowed reports whether a response with this status to this method
// may carry content (RFC 9110 §6.4.1).
func bodyAllowed(status int, method string) bool {
	if method == http.MethodHead {
		return false
	}
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}
