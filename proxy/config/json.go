package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// jsonValue is a decoded JSON document that keeps object keys in the order
// they were written, so that problems are reported in document order, and
// that can be pruned and encoded again for protojson.
type jsonValue struct {
	kind jsonKind
	line int32  // where the value (or the key naming it) is in the file; 0 if unknown
	text string // a string's contents or a number's literal
	b    bool
	keys []string     // an object's keys, parallel to vals
	vals []*jsonValue // an object's values or an array's elements
}

type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (k jsonKind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "a list", "an object"}[k]
}

// get returns the value of key in object v, or nil.
func (v *jsonValue) get(key string) *jsonValue {
	if v == nil || v.kind != jsonObject {
		return nil
	}
	for i, k := range v.keys {
		if k == key {
			return v.vals[i]
		}
	}
	return nil
}

// parseJSON decodes one JSON document.
func parseJSON(data []byte) (*jsonValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	r := jsonReader{dec: dec, data: data}
	v, err := r.read()
	if err != nil {
		return nil, jsonError(data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, jsonError(data, dec, errors.New("unexpected data after the top-level value"))
	}
	return v, nil
}

// jsonReader reads values from dec, noting the line of each.
type jsonReader struct {
	dec      *json.Decoder
	data     []byte
	lastOff  int64
	lastLine int32
}

// line is the line of the token just read: lines are counted
// incrementally, as the decoder only moves forward.
func (r *jsonReader) line() int32 {
	off := min(r.dec.InputOffset(), int64(len(r.data)))
	r.lastLine += int32(bytes.Count(r.data[r.lastOff:off], []byte("\n")))
	r.lastOff = off
	return r.lastLine + 1
}

func (r *jsonReader) read() (*jsonValue, error) {
	dec := r.dec
	tok, err := dec.Token()
	line := r.line()
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &jsonValue{kind: jsonNull, line: line}, nil
	case bool:
		return &jsonValue{kind: jsonBool, b: t, line: line}, nil
	case json.Number:
		return &jsonValue{kind: jsonNumber, text: string(t), line: line}, nil
	case string:
		return &jsonValue{kind: jsonString, text: t, line: line}, nil
	case json.Delim:
		if t == '[' {
			v := &jsonValue{kind: jsonArray, line: line}
			for dec.More() {
				e, err := r.read()
				if err != nil {
					return nil, err
				}
				v.vals = append(v.vals, e)
			}
			_, err := dec.Token() // ']'
			return v, err
		}
		v := &jsonValue{kind: jsonObject, line: line}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			keyLine := r.line()
			k, _ := kt.(string)
			e, err := r.read()
			if err != nil {
				return nil, err
			}
			e.line = keyLine // a problem with a field is reported at its key
			v.keys = append(v.keys, k)
			v.vals = append(v.vals, e)
		}
		_, err := dec.Token() // '}'
		return v, err
	}
	return nil, fmt.Errorf("unexpected %v", tok)
}

// jsonError adds the line of the failure to a JSON syntax error.
func jsonError(data []byte, dec *json.Decoder, err error) error {
	off := dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	return fmt.Errorf("invalid JSON at line %d: %w", line, err)
}

// appendJSON encodes v, compactly.
func appendJSON(b []byte, v *jsonValue) []byte {
	switch v.kind {
	case jsonNull:
		return append(b, "null"...)
	case jsonBool:
		return strconv.AppendBool(b, v.b)
	case jsonNumber:
		return append(b, v.text...)
	case jsonString:
		return appendJSONString(b, v.text)
	case jsonArray:
		b = append(b, '[')
		for i, e := range v.vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	}
	b = append(b, '{')
	for i, k := range v.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSON(b, v.vals[i])
	}
	return append(b, '}')
}

// appendJSONString quotes s. The decoder already replaced invalid UTF-8, so
// only quotes, backslashes and control characters need escaping.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			b = utf8.AppendRune(b, r)
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}
