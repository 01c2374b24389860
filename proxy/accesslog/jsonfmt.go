package accesslog

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// jsonFormatter renders json_format: one compact JSON object per line, keys
// in alphabetical order. A value that is exactly one command operator keeps
// its type (a number for %RESPONSE_CODE%, %DURATION%, ...) and is null
// when absent; a value mixing text and operators is a string with "-" for
// absent parts. With omitEmpty (omit_empty_values), null values are left
// out, and so are nested objects left empty; the root object stays.
type jsonFormatter struct {
	root      jsonNode
	omitEmpty bool
	untyped   bool // numbers as strings (the deprecated FileAccessLog.json_format)
}

type jsonKind int

const (
	jsonConst    jsonKind = iota // raw holds the encoded value
	jsonObject                   // keys (encoded `"k":`) and children
	jsonArray                    // children
	jsonTemplate                 // a string made of tmpl
	jsonSingle                   // exactly one operator
)

type jsonNode struct {
	kind     jsonKind
	raw      []byte
	keys     []string
	children []jsonNode
	tmpl     template
	op       *operator
}

func compileJSON(s *structpb.Struct, p config.Path, errs *config.Errors) jsonNode {
	keys := make([]string, 0, len(s.GetFields()))
	for k := range s.GetFields() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	n := jsonNode{kind: jsonObject}
	for _, k := range keys {
		enc, _ := json.Marshal(k)
		n.keys = append(n.keys, string(enc)+":")
		n.children = append(n.children, compileJSONValue(s.Fields[k], p.Key(k), errs))
	}
	return n
}

func compileJSONValue(v *structpb.Value, p config.Path, errs *config.Errors) jsonNode {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StructValue:
		return compileJSON(k.StructValue, p, errs)
	case *structpb.Value_ListValue:
		n := jsonNode{kind: jsonArray}
		for i, e := range k.ListValue.GetValues() {
			n.children = append(n.children, compileJSONValue(e, p.Index(i), errs))
		}
		return n
	case *structpb.Value_StringValue:
		t, err := compileTemplate(k.StringValue)
		if err != nil {
			errs.Add(p, fmt.Errorf("access log: %w", err))
			return jsonNode{kind: jsonConst, raw: []byte("null")}
		}
		if len(t) == 1 && t[0].op != nil {
			return jsonNode{kind: jsonSingle, op: t[0].op}
		}
		return jsonNode{kind: jsonTemplate, tmpl: t}
	default:
		raw, err := json.Marshal(v.AsInterface())
		if err != nil {
			errs.Add(p, fmt.Errorf("access log: %w", err))
		}
		return jsonNode{kind: jsonConst, raw: raw}
	}
}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (f *jsonFormatter) Append(b []byte, in *streaminfo.Info) []byte {
	sp := scratchPool.Get().(*[]byte)
	b, _ = f.appendNode(b, &f.root, in, sp, true)
	scratchPool.Put(sp)
	return append(b, '\n')
}

// appendNode appends n; ok is false when it was left out (omitEmpty).
func (f *jsonFormatter) appendNode(b []byte, n *jsonNode, in *streaminfo.Info, sp *[]byte, root bool) ([]byte, bool) {
	switch n.kind {
	case jsonConst:
		return append(b, n.raw...), true
	case jsonObject:
		start := len(b)
		b = append(b, '{')
		count := 0
		for i := range n.children {
			mark := len(b)
			if count > 0 {
				b = append(b, ',')
			}
			b = append(b, n.keys[i]...)
			var ok bool
			if b, ok = f.appendNode(b, &n.children[i], in, sp, false); !ok {
				b = b[:mark]
				continue
			}
			count++
		}
		if count == 0 && f.omitEmpty && !root && len(n.children) > 0 {
			return b[:start], false
		}
		return append(b, '}'), true
	case jsonArray:
		b = append(b, '[')
		for i := range n.children {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = f.appendNode(b, &n.children[i], in, sp, false); !ok {
				b = append(b, "null"...)
			}
		}
		return append(b, ']'), true
	case jsonSingle:
		raw, ok := n.op.appendValue((*sp)[:0], in)
		*sp = raw
		if !ok {
			if f.omitEmpty {
				return b, false
			}
			return append(b, "null"...), true
		}
		if n.op.number && !f.untyped {
			return append(b, raw...), true
		}
		return appendJSONString(b, raw), true
	default: // jsonTemplate
		raw := (*sp)[:0]
		for i := range n.tmpl {
			s := &n.tmpl[i]
			if s.op == nil {
				raw = append(raw, s.literal...)
				continue
			}
			var ok bool
			if raw, ok = s.op.appendValue(raw, in); !ok && !f.omitEmpty {
				raw = append(raw, '-')
			}
		}
		*sp = raw
		return appendJSONString(b, raw), true
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
