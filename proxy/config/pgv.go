package config

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// pgvError is what protoc-gen-validate generates for each violation: the Go
// name of the field (with "[index]" or "[key]" for repeated and map
// fields), a reason, and for an embedded message the cause inside it.
type pgvError interface {
	Field() string
	Reason() string
	Cause() error
	Key() bool
}

// pgvMultiError is the list ValidateAll returns.
type pgvMultiError interface {
	AllErrors() []error
}

// pgv runs the generated ValidateAll of m (at path p) and records each
// violation at its field path. It does not look inside typed_configs: the
// allowlist walk validates each one after unpacking it.
func (v *validation) pgv(m proto.Message, p Path) {
	va, ok := m.(interface{ ValidateAll() error })
	if !ok {
		return
	}
	v.pgvError(va.ValidateAll(), m.ProtoReflect().Descriptor(), p)
}

func (v *validation) pgvError(err error, md protoreflect.MessageDescriptor, p Path) {
	if err == nil {
		return
	}
	if multi, ok := err.(pgvMultiError); ok {
		for _, e := range multi.AllErrors() {
			v.pgvError(e, md, p)
		}
		return
	}
	pe, ok := err.(pgvError)
	if !ok {
		v.invalid.Add(p, err)
		return
	}
	fp, elem := pgvPath(pe.Field(), md, p)
	if pe.Cause() != nil && elem != nil && pe.Reason() == "embedded message failed validation" {
		v.pgvError(pe.Cause(), elem, fp)
		return
	}
	reason := pe.Reason()
	if pe.Key() {
		reason = "invalid key: " + reason
	}
	if pe.Cause() != nil {
		reason += ": " + pe.Cause().Error()
	}
	v.invalid.Addf(fp, "%s", reason)
}

// pgvPath turns PGV's field name ("Listeners[0]", "RouteSpecifier",
// "TypedExtensionProtocolOptions[key]") of a field in md into a path below
// p, and returns the descriptor of the message it holds, if any.
func pgvPath(field string, md protoreflect.MessageDescriptor, p Path) (Path, protoreflect.MessageDescriptor) {
	name, index, indexed := field, "", false
	if i := strings.IndexByte(field, '['); i > 0 && strings.HasSuffix(field, "]") {
		name, index, indexed = field[:i], field[i+1:len(field)-1], true
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if goCamelCase(string(fd.Name())) != name {
			continue
		}
		fp := p.Field(string(fd.Name()))
		switch {
		case indexed && fd.IsMap():
			return fp.Key(index), fd.MapValue().Message()
		case indexed:
			return Path(string(fp) + "[" + index + "]"), fd.Message()
		}
		return fp, fd.Message()
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		if od := oneofs.Get(i); goCamelCase(string(od.Name())) == name {
			return p.Field(string(od.Name())), nil
		}
	}
	return p.Field(field), nil
}

// goCamelCase is protoc-gen-go's name for a field: the name PGV reports.
func goCamelCase(s string) string {
	isLower := func(c byte) bool { return 'a' <= c && c <= 'z' }
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && i+1 < len(s) && isLower(s[i+1]):
		case c == '.':
			b = append(b, '_')
		case c == '_' && (i == 0 || s[i-1] == '.'):
			b = append(b, 'X')
		case c == '_' && i+1 < len(s) && isLower(s[i+1]):
		case '0' <= c && c <= '9':
			b = append(b, c)
		default:
			if isLower(c) {
				c -= 'a' - 'A'
			}
			b = append(b, c)
			for ; i+1 < len(s) && isLower(s[i+1]); i++ {
				b = append(b, s[i+1])
			}
		}
	}
	return string(b)
}
