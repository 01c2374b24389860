package http1

import (
	"bufio"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// skip selects header fields the codec writes itself (framing, Host) or
// must not forward.
type skip uint8

const (
	skipHost skip = 1 << iota
	skipFraming
	skipTrailer
	skipExpect
	skipConnection
)

func (s skip) has(key string, vv []string) bool {
	switch key {
	case "Host":
		return s&skipHost != 0
	case "Content-Length", "Transfer-Encoding":
		return s&skipFraming != 0
	case "Trailer":
		return s&skipTrailer != 0
	case "Expect":
		return s&skipExpect != 0 && hasToken(vv, "100-continue")
	case "Connection":
		return s&skipConnection != 0
	}
	return false
}

var errInvalidField = errors.New("http1: invalid header field")

// writeFields writes h sorted by name (so output is deterministic), names
// in hc's case where it has one. Trailer-prefixed keys are never written
// here. With strict, an invalid name or value fails the write; otherwise
// the field is dropped, as net/http's server does, so a bad value set by a
// filter cannot split the head.
func writeFields(bw *bufio.Writer, h http.Header, hc HeaderCase, s skip, strict bool) error {
	// The values are kept beside their names so that writing needs no
	// second lookup per field; heads are usually small, so an insertion
	// sort on a stack array beats a general sort (large ones get one).
	var arr [32]headerField
	fields := arr[:0]
	small := len(h) <= len(arr)
	for k, vv := range h {
		if len(k) > len(http.TrailerPrefix) && k[:len(http.TrailerPrefix)] == http.TrailerPrefix {
			continue
		}
		if s.has(k, vv) {
			continue
		}
		fields = append(fields, headerField{k, vv})
		for i := len(fields) - 1; small && i > 0 && fields[i].key < fields[i-1].key; i-- {
			fields[i], fields[i-1] = fields[i-1], fields[i]
		}
	}
	if !small {
		slices.SortFunc(fields, func(a, b headerField) int { return strings.Compare(a.key, b.key) })
	}
	for _, f := range fields {
		if !isToken(f.key) {
			if strict {
				return errInvalidField
			}
			continue
		}
		name := wireName(hc, f.key)
		for _, v := range f.values {
			if !validFieldValue(v) {
				if strict {
					return errInvalidField
				}
				continue
			}
			v = trimOWSString(v)
			bw.WriteString(name)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	return nil
}

type headerField struct {
	key    string
	values []string
}

// writeField writes one field named key (in hc's case if recorded).
func writeField(bw *bufio.Writer, hc HeaderCase, key, value string) {
	bw.WriteString(wireName(hc, key))
	bw.WriteString(": ")
	bw.WriteString(value)
	bw.WriteString("\r\n")
}

func writeContentLength(bw *bufio.Writer, hc HeaderCase, n int64) {
	bw.WriteString(wireName(hc, "Content-Length"))
	bw.WriteString(": ")
	writeInt(bw, n, 10)
	bw.WriteString("\r\n")
}

// writeInt writes n in base, formatted in the writer's own buffer (a
// scratch array would escape through bw.Write and cost an allocation).
func writeInt(bw *bufio.Writer, n int64, base int) {
	if bw.Available() < 20 {
		bw.Flush()
	}
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), n, base))
}

// writeChunk writes p as one chunk.
func writeChunk(bw *bufio.Writer, p []byte) error {
	writeInt(bw, int64(len(p)), 16)
	bw.WriteString("\r\n")
	bw.Write(p)
	_, err := bw.WriteString("\r\n")
	return err
}

// writeLastChunk ends a chunked body with the trailer fields.
func writeLastChunk(bw *bufio.Writer, trailer http.Header, hc HeaderCase, strict bool) error {
	bw.WriteString("0\r\n")
	if err := writeFields(bw, trailer, hc, skipHost|skipFraming|skipTrailer|skipConnection, strict); err != nil {
		return err
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// wireName is key in the case hc recorded for it. An entry that is not the
// same name in another case is ignored, so a HeaderCase can never rename a
// field.
func wireName(hc HeaderCase, key string) string {
	wire, ok := hc[key]
	if !ok || len(wire) != len(key) {
		return key
	}
	for i := 0; i < len(key); i++ {
		if a, b := wire[i], key[i]; a != b && lower(a) != lower(b) {
			return key
		}
	}
	return wire
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// statusLines caches "HTTP/1.1 200 OK\r\n" for the registered codes.
var statusLines = func() (m [2][600]string) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			m[0][code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
			m[1][code] = "HTTP/1.0 " + strconv.Itoa(code) + " " + text + "\r\n"
		}
	}
	return m
}()

func writeStatusLine(bw *bufio.Writer, http10 bool, code int) {
	v := 0
	if http10 {
		v = 1
	}
	if code < 600 && statusLines[v][code] != "" {
		bw.WriteString(statusLines[v][code])
		return
	}
	if http10 {
		bw.WriteString("HTTP/1.0 ")
	} else {
		bw.WriteString("HTTP/1.1 ")
	}
	writeInt(bw, int64(code), 10)
	bw.WriteString(" \r\n")
}
