package config

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envoyproxy/protoc-gen-validate/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The interpreter in pgv.go must report exactly what the generated
// ValidateAll reports. These tests link the generated code (the proxy
// binary does not) and compare the two on every message type the proxy
// links, field by field, with values at and around each rule's bounds.

func TestRulesFromDescriptorsMatchTheGeneratedValidation(t *testing.T) {
	var types []protoreflect.MessageType
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		name := string(mt.Descriptor().FullName())
		if strings.HasPrefix(name, "envoy.") || strings.HasPrefix(name, "xds.") || strings.HasPrefix(name, "udpa.") {
			types = append(types, mt)
		}
		return true
	})
	if len(types) < 500 {
		t.Fatalf("only %d message types are linked; the comparison would prove little", len(types))
	}
	checked, failed := 0, 0
	for _, mt := range types {
		for _, m := range variants(mt) {
			checked++
			want, got := generatedErrors(m.msg), interpretedErrors(m.msg)
			if want != got {
				failed++
				if failed <= 20 {
					t.Errorf("%s with %s:\ngenerated code:\n%s\ninterpreter:\n%s", mt.Descriptor().FullName(), m.desc, want, got)
				}
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d messages disagree", failed, checked)
	}
	t.Logf("%d messages of %d types compared", checked, len(types))
}

func TestRulesFromDescriptorsMatchTheGeneratedValidationOnConfigFiles(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	files = append(files, "testdata/full.yaml", "../sidecar/testdata/sidecar-bootstrap.yaml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Skip(err)
			}
			b, err := Parse(data, f)
			if err != nil {
				t.Fatalf("the example does not load: %v", err)
			}
			if want, got := generatedErrors(b), interpretedErrors(b); want != got {
				t.Errorf("generated code:\n%s\ninterpreter:\n%s", want, got)
			}
		})
	}
}

func interpretedErrors(m proto.Message) string {
	var v validation
	v.pgv(m, "root")
	return v.invalid.Error()
}

func generatedErrors(m proto.Message) string {
	var v validation
	va, ok := m.(interface{ ValidateAll() error })
	if !ok {
		return ""
	}
	oracleError(&v, va.ValidateAll(), m.ProtoReflect().Descriptor(), "root")
	return v.invalid.Error()
}

type variant struct {
	msg  proto.Message
	desc string
}

// variants are instances of mt: empty, then each field set alone to each
// of its test values.
func variants(mt protoreflect.MessageType) []variant {
	out := []variant{{msg: mt.New().Interface(), desc: "no field set"}}
	fields := mt.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		for _, tv := range testValues(mt, fd) {
			m := mt.New()
			tv.set(m)
			out = append(out, variant{msg: m.Interface(), desc: fmt.Sprintf("%s = %s", fd.Name(), tv.desc)})
		}
	}
	return out
}

type testValue struct {
	desc string
	set  func(protoreflect.Message)
}

// testValues are values for fd: typical ones and the bounds of its rules,
// off by one on either side.
func testValues(mt protoreflect.MessageType, fd protoreflect.FieldDescriptor) []testValue {
	var rc ruleCache
	rules := rc.field(fd)
	var out []testValue
	add := func(desc string, set func(protoreflect.Message)) { out = append(out, testValue{desc, set}) }
	scalars := scalarValues(fd, rules)
	switch {
	case fd.IsList():
		n := []int{0, 1, 2, 3}
		if r := rules.GetRepeated(); r != nil {
			n = append(n, int(r.GetMinItems()), int(r.GetMaxItems())+1)
		}
		for _, k := range n {
			if k > 20 {
				continue
			}
			for _, sv := range elementValues(mt, fd, scalars) {
				add(fmt.Sprintf("%d × %s", k, sv.desc), func(m protoreflect.Message) {
					l := m.Mutable(fd).List()
					for i := 0; i < k; i++ {
						l.Append(sv.v(m, fd))
					}
				})
			}
		}
	case fd.IsMap():
		for _, key := range []string{"", "k", "a:b"} {
			for _, sv := range elementValues(mt, fd, scalarValues(fd.MapValue(), rules.GetMap().GetValues())) {
				add(fmt.Sprintf("{%q: %s}", key, sv.desc), func(m protoreflect.Message) {
					kv := protoreflect.ValueOfString(key).MapKey()
					switch fd.MapKey().Kind() {
					case protoreflect.StringKind:
					case protoreflect.BoolKind:
						kv = protoreflect.ValueOfBool(key != "").MapKey()
					default:
						return
					}
					m.Mutable(fd).Map().Set(kv, sv.v(m, fd.MapValue()))
				})
			}
		}
	case fd.Message() != nil:
		add("an empty message", func(m protoreflect.Message) { m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message())) })
		if md := fd.Message(); isWellKnown(md) {
			for _, sv := range scalars {
				if vf := md.Fields().ByName("value"); vf != nil && sv.ok(vf) {
					add("wrapping "+sv.desc, func(m protoreflect.Message) {
						w := m.NewField(fd).Message()
						w.Set(vf, sv.val)
						m.Set(fd, protoreflect.ValueOfMessage(w))
					})
				}
			}
			for _, d := range durationValues(rules) {
				add("duration "+d.desc, func(m protoreflect.Message) {
					w := m.NewField(fd).Message()
					f := md.Fields()
					if f.ByName("seconds") == nil || f.ByName("nanos") == nil {
						return
					}
					w.Set(f.ByName("seconds"), protoreflect.ValueOfInt64(d.s))
					w.Set(f.ByName("nanos"), protoreflect.ValueOfInt32(d.n))
					m.Set(fd, protoreflect.ValueOfMessage(w))
				})
			}
		}
	default:
		for _, sv := range scalars {
			if sv.ok(fd) {
				add(sv.desc, func(m protoreflect.Message) { m.Set(fd, sv.val) })
			}
		}
	}
	return out
}

type scalarValue struct {
	desc string
	val  protoreflect.Value
	kind protoreflect.Kind
}

// ok reports whether the value fits fd's kind.
func (sv scalarValue) ok(fd protoreflect.FieldDescriptor) bool {
	return sameKind(sv.kind, fd.Kind())
}

func sameKind(a, b protoreflect.Kind) bool {
	group := func(k protoreflect.Kind) protoreflect.Kind {
		switch k {
		case protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			return protoreflect.Int32Kind
		case protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			return protoreflect.Int64Kind
		case protoreflect.Fixed32Kind:
			return protoreflect.Uint32Kind
		case protoreflect.Fixed64Kind:
			return protoreflect.Uint64Kind
		}
		return k
	}
	return group(a) == group(b)
}

// scalarValues are test values of every scalar kind, with the bounds of
// rules (which may be nil) and their neighbours.
func scalarValues(fd protoreflect.FieldDescriptor, rules *validate.FieldRules) []scalarValue {
	var out []scalarValue
	ints := []int64{0, 1, -1, 2, 100, 65535, 65536, math.MaxInt32, math.MinInt32, 1 << 40}
	floats := []float64{0, 0.5, 1, -1, 100.5, 1e10}
	for _, b := range numericBounds(rules) {
		ints = append(ints, int64(b)-1, int64(b), int64(b)+1)
		floats = append(floats, b-0.5, b, b+0.5)
	}
	for _, i := range ints {
		out = append(out,
			scalarValue{fmt.Sprint("int32 ", i), protoreflect.ValueOfInt32(int32(i)), protoreflect.Int32Kind},
			scalarValue{fmt.Sprint("int64 ", i), protoreflect.ValueOfInt64(i), protoreflect.Int64Kind},
			scalarValue{fmt.Sprint("uint32 ", uint32(i)), protoreflect.ValueOfUint32(uint32(i)), protoreflect.Uint32Kind},
			scalarValue{fmt.Sprint("uint64 ", uint64(i)), protoreflect.ValueOfUint64(uint64(i)), protoreflect.Uint64Kind})
	}
	for _, f := range floats {
		out = append(out,
			scalarValue{fmt.Sprint("float ", f), protoreflect.ValueOfFloat32(float32(f)), protoreflect.FloatKind},
			scalarValue{fmt.Sprint("double ", f), protoreflect.ValueOfFloat64(f), protoreflect.DoubleKind})
	}
	out = append(out,
		scalarValue{"true", protoreflect.ValueOfBool(true), protoreflect.BoolKind},
		scalarValue{"false", protoreflect.ValueOfBool(false), protoreflect.BoolKind})
	strs := []string{"", "a", "é", "a b", "x-header", ":path", "bad\nvalue", "bad\x00", "\x7f",
		"127.0.0.1", "::1", "host.example.com", "-bad-.host", "user@example.com", "http://example.com/x", "/relative",
		"%", "550e8400-e29b-41d4-a716-446655440000", "a.b.c", strings.Repeat("x", 300), strings.Repeat("é", 70)}
	if r := rules.GetString_(); r != nil {
		for _, n := range []uint64{r.GetMinLen(), r.GetMaxLen(), r.GetLen(), r.GetMinBytes(), r.GetMaxBytes(), r.GetLenBytes()} {
			if n > 0 && n < 20000 {
				strs = append(strs, strings.Repeat("y", int(n-1)), strings.Repeat("y", int(n)), strings.Repeat("y", int(n+1)))
			}
		}
		strs = append(strs, r.GetConst(), r.GetPrefix(), r.GetSuffix(), r.GetContains(), r.GetNotContains(), r.GetPrefix()+"z")
		strs = append(strs, r.GetIn()...)
		strs = append(strs, r.GetNotIn()...)
	}
	for _, s := range strs {
		out = append(out,
			scalarValue{fmt.Sprintf("string %.20q", s), protoreflect.ValueOfString(s), protoreflect.StringKind},
			scalarValue{fmt.Sprintf("bytes %.20q", s), protoreflect.ValueOfBytes([]byte(s)), protoreflect.BytesKind})
	}
	if ed := fd.Enum(); ed != nil {
		nums := []int32{0, 1, 2, 9999, -1}
		if r := rules.GetEnum(); r != nil {
			nums = append(nums, r.GetConst())
			nums = append(nums, r.GetIn()...)
			nums = append(nums, r.GetNotIn()...)
		}
		for _, n := range nums {
			out = append(out, scalarValue{fmt.Sprint("enum ", n), protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), protoreflect.EnumKind})
		}
	}
	return out
}

// numericBounds are the bounds of a number rule, as float64.
func numericBounds(rules *validate.FieldRules) []float64 {
	var out []float64
	var rm protoreflect.Message
	switch r := rules.GetType().(type) {
	case nil, *validate.FieldRules_String_, *validate.FieldRules_Bytes, *validate.FieldRules_Enum,
		*validate.FieldRules_Repeated, *validate.FieldRules_Map, *validate.FieldRules_Any,
		*validate.FieldRules_Duration, *validate.FieldRules_Timestamp, *validate.FieldRules_Bool:
		return nil
	default:
		rm = reflectOneofValue(rules, r)
	}
	if rm == nil {
		return nil
	}
	rm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		add := func(v protoreflect.Value) {
			switch x := v.Interface().(type) {
			case int32:
				out = append(out, float64(x))
			case int64:
				out = append(out, float64(x))
			case uint32:
				out = append(out, float64(x))
			case uint64:
				out = append(out, float64(x))
			case float32:
				out = append(out, float64(x))
			case float64:
				out = append(out, x)
			}
		}
		if fd.IsList() {
			for i := 0; i < v.List().Len(); i++ {
				add(v.List().Get(i))
			}
		} else {
			add(v)
		}
		return true
	})
	return out
}

// reflectOneofValue is the message set in rules' type oneof.
func reflectOneofValue(rules *validate.FieldRules, _ any) protoreflect.Message {
	m := rules.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("type")
	if fd := m.WhichOneof(od); fd != nil && fd.Message() != nil {
		return m.Get(fd).Message()
	}
	return nil
}

type durationValue struct {
	desc string
	s    int64
	n    int32
}

func durationValues(rules *validate.FieldRules) []durationValue {
	out := []durationValue{{"0s", 0, 0}, {"1ns", 0, 1}, {"1ms", 0, 1e6}, {"1s", 1, 0}, {"-1s", -1, 0},
		{"1h", 3600, 0}, {"invalid", 1, -5}, {"huge", 400000000000, 0}}
	if r := rules.GetDuration(); r != nil {
		for _, b := range []interface {
			GetSeconds() int64
			GetNanos() int32
		}{r.GetLt(), r.GetLte(), r.GetGt(), r.GetGte(), r.GetConst()} {
			if b == nil || b.GetSeconds() == 0 && b.GetNanos() == 0 {
				continue
			}
			s, n := b.GetSeconds(), b.GetNanos()
			out = append(out, durationValue{"bound", s, n}, durationValue{"bound-1ns", s, n - 1}, durationValue{"bound+1ns", s, n + 1})
		}
	}
	return out
}

type elementValue struct {
	desc string
	v    func(protoreflect.Message, protoreflect.FieldDescriptor) protoreflect.Value
}

// elementValues are values for a list item or a map value.
func elementValues(mt protoreflect.MessageType, fd protoreflect.FieldDescriptor, scalars []scalarValue) []elementValue {
	kind := fd
	if fd.IsMap() {
		kind = fd.MapValue()
	}
	if kind.Message() != nil {
		return []elementValue{{"empty message", func(m protoreflect.Message, _ protoreflect.FieldDescriptor) protoreflect.Value {
			if fd.IsMap() {
				return protoreflect.ValueOfMessage(dynamicOrConcrete(kind.Message()))
			}
			return m.Mutable(fd).List().NewElement()
		}}}
	}
	var out []elementValue
	for _, sv := range scalars {
		if sv.ok(kind) {
			out = append(out, elementValue{sv.desc, func(protoreflect.Message, protoreflect.FieldDescriptor) protoreflect.Value { return sv.val }})
		}
	}
	return out
}

// dynamicOrConcrete makes a new message of md, of its generated type when
// linked.
func dynamicOrConcrete(md protoreflect.MessageDescriptor) protoreflect.Message {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		return mt.New()
	}
	return dynamicpb.NewMessage(md)
}

// The generated code's report, turned into paths: the code pgv.go
// replaces, kept as the reference.

type oraclePGVError interface {
	Field() string
	Reason() string
	Cause() error
	Key() bool
}

func oracleError(v *validation, err error, md protoreflect.MessageDescriptor, p Path) {
	if err == nil {
		return
	}
	if multi, ok := err.(interface{ AllErrors() []error }); ok {
		for _, e := range multi.AllErrors() {
			oracleError(v, e, md, p)
		}
		return
	}
	pe, ok := err.(oraclePGVError)
	if !ok {
		v.invalid.Add(p, err)
		return
	}
	fp, elem := oraclePath(pe.Field(), md, p)
	if pe.Cause() != nil && elem != nil && pe.Reason() == "embedded message failed validation" {
		oracleError(v, pe.Cause(), elem, fp)
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

func oraclePath(field string, md protoreflect.MessageDescriptor, p Path) (Path, protoreflect.MessageDescriptor) {
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
