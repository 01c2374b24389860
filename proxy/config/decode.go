package config

import (
	"fmt"
	"regexp"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// decoder walks a JSON document along the descriptors of the message it
// encodes, before protojson sees it. protojson stops at the first problem
// and names no path; the decoder reports every unknown field, unsupported
// field, unsupported typed_config type and malformed value with its path,
// and prunes them so that protojson can decode the rest and the later
// stages (PGV, cross-field rules) still run.
type decoder struct {
	errs Errors
	// dropped lists the subtrees removed from the document: later stages
	// must not report what is missing because of them.
	dropped []Path
}

func (d *decoder) drop(p Path) { d.dropped = append(d.dropped, p) }

// errorf records a problem at p, on line.
func (d *decoder) errorf(line int32, p Path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Path: p, Err: fmt.Errorf(format, args...), Line: int(line)})
}

// message checks object v, which encodes message md under rule set rules,
// at path p. isAny says v is the payload of a google.protobuf.Any, whose
// "@type" key is kept.
func (d *decoder) message(md protoreflect.MessageDescriptor, rules string, v *jsonValue, p Path, isAny bool) {
	fields := md.Fields()
	keys, vals := v.keys[:0:0], v.vals[:0:0]
	var seen []protoreflect.FieldDescriptor
	for i, k := range v.keys {
		val := v.vals[i]
		if isAny && k == "@type" {
			keys, vals = append(keys, k), append(vals, val)
			continue
		}
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(k))
		}
		if fd == nil {
			d.errorf(val.line, p.Field(k), "unknown field %q in %s", k, md.FullName())
			continue
		}
		fp := p.Field(string(fd.Name()))
		if other := sameField(seen, fd); other != nil {
			if other == fd {
				d.errorf(val.line, fp, "set twice")
			} else {
				d.errorf(val.line, fp, "only one of %s and %s may be set", other.Name(), fd.Name())
			}
			continue
		}
		if val.kind == jsonNull && (fd.Message() == nil || fd.Message().FullName() != "google.protobuf.Value") {
			continue // protojson reads null as unset
		}
		seen = append(seen, fd)
		r, why, found := lookup(rules, fd.Name())
		if !found {
			d.errorf(val.line, fp, "%s", why)
			d.dropField(p, fd)
			continue
		}
		if !d.field(md, fd, r, v, val, p, fp) {
			d.dropField(p, fd)
			continue
		}
		keys, vals = append(keys, k), append(vals, val)
	}
	v.keys, v.vals = keys, vals
}

// sameField returns the field of seen that fd conflicts with: fd itself
// (written twice, e.g. as "stat_prefix" and "statPrefix") or a member of
// the same oneof.
func sameField(seen []protoreflect.FieldDescriptor, fd protoreflect.FieldDescriptor) protoreflect.FieldDescriptor {
	od := fd.ContainingOneof()
	for _, s := range seen {
		if s == fd || (od != nil && !od.IsSynthetic() && s.ContainingOneof() == od) {
			return s
		}
	}
	return nil
}

// dropField records that field fd of the message at p was removed.
func (d *decoder) dropField(p Path, fd protoreflect.FieldDescriptor) {
	d.drop(p.Field(string(fd.Name())))
	if od := fd.ContainingOneof(); od != nil {
		d.drop(p.Field(string(od.Name())))
	}
}

// field checks the value of field fd of owner (at path p). It returns false
// when the field must be removed.
func (d *decoder) field(md protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor, r fieldRule, owner, v *jsonValue, p, fp Path) bool {
	switch {
	case fd.IsMap():
		if v.kind != jsonObject {
			d.errorf(v.line, fp, "want an object, got %s", v.kind)
			return false
		}
		keys, vals := v.keys[:0:0], v.vals[:0:0]
		for i, k := range v.keys {
			kp := fp.Key(k)
			if !allowedKey(r, k) {
				d.errorf(v.vals[i].line, kp, "key %q is not supported", k)
				continue
			}
			wrap := func(e *jsonValue) *jsonValue {
				return &jsonValue{kind: jsonObject, keys: []string{k}, vals: []*jsonValue{e}}
			}
			if !d.value(md, fd, fd.MapValue(), r, k, v.vals[i].line, kp, v.vals[i], kp, wrap) {
				d.drop(kp)
				continue
			}
			keys, vals = append(keys, k), append(vals, v.vals[i])
		}
		v.keys, v.vals = keys, vals
		return true
	case fd.IsList():
		if v.kind != jsonArray {
			d.errorf(v.line, fp, "want a list, got %s", v.kind)
			return false
		}
		wrap := func(e *jsonValue) *jsonValue { return &jsonValue{kind: jsonArray, vals: []*jsonValue{e}} }
		for i, e := range v.vals {
			ep := fp.Index(i)
			if d.value(md, fd, fd, r, "", e.line, ep, e, ep, wrap) {
				continue
			}
			if fd.Message() == nil {
				return false // a list of scalars goes whole
			}
			// Keep the element (empty) so that later elements keep their index.
			v.vals[i] = &jsonValue{kind: jsonObject}
			d.drop(ep)
		}
		return true
	}
	name := ""
	if n := owner.get("name"); n != nil && n.kind == jsonString {
		name = n.text
	}
	return d.value(md, fd, fd, r, name, owner.line, p, v, fp, func(e *jsonValue) *jsonValue { return e })
}

func allowedKey(r fieldRule, k string) bool {
	if r.keys == nil {
		return true
	}
	for _, want := range r.keys {
		if k == want {
			return true
		}
	}
	return false
}

// value checks one value of field fd (vd describes the value: fd itself or
// its map value). ownerName and ownerPath name the element holding a
// typed_config, for messages about it. wrap turns the value into the JSON
// of field fd for a trial decode.
func (d *decoder) value(md protoreflect.MessageDescriptor, fd, vd protoreflect.FieldDescriptor, r fieldRule, ownerName string, ownerLine int32, ownerPath Path, v *jsonValue, p Path, wrap func(*jsonValue) *jsonValue) bool {
	m := vd.Message()
	switch {
	case m == nil:
		if quickValid(vd, v) {
			return true
		}
		return d.leaf(md, fd, wrap(v), v.line, p)
	case m.FullName() == anyFullName:
		return d.any(r, ownerName, ownerLine, ownerPath, v, p)
	case isWellKnown(m):
		return d.leaf(md, fd, wrap(v), v.line, p)
	case v.kind != jsonObject:
		d.errorf(v.line, p, "want an object, got %s", v.kind)
		return false
	}
	d.message(m, ruleSet(r, m), v, p, false)
	return true
}

// any checks a typed_config: its type must be supported, and allowed where
// it is; problems are reported at ownerPath, the element that names it.
func (d *decoder) any(r fieldRule, ownerName string, ownerLine int32, ownerPath Path, v *jsonValue, p Path) bool {
	if v.kind != jsonObject {
		d.errorf(v.line, p, "want an object, got %s", v.kind)
		return false
	}
	url := v.get("@type")
	if url == nil || url.kind != jsonString {
		d.errorf(v.line, p, "@type is required")
		return false
	}
	t := typeName(url.text)
	mt, err := supportedTypes{}.FindMessageByURL(url.text)
	if err != nil {
		d.errorf(ownerLine, ownerPath, "%s", unknownType(t, ownerName))
		return false
	}
	if why, allowed := checkType(r, t); !allowed {
		d.errorf(ownerLine, ownerPath, "%s", why)
		return false
	}
	d.message(mt.Descriptor(), string(t), v, p, true)
	return true
}

// unknownType explains a typed_config whose type is not supported; name is
// the extension name the config gives it, if any.
func unknownType(t protoreflect.FullName, name string) string {
	for _, known := range extensionNames {
		if name == known {
			return name + ": type " + string(t) + " is not supported"
		}
	}
	return unsupportedType(t, name)
}

// quickValid accepts the common well-formed scalars without a trial decode.
func quickValid(fd protoreflect.FieldDescriptor, v *jsonValue) bool {
	var err error
	switch fd.Kind() {
	case protoreflect.StringKind:
		return v.kind == jsonString
	case protoreflect.BoolKind:
		return v.kind == jsonBool
	case protoreflect.EnumKind:
		return v.kind == jsonString && fd.Enum().Values().ByName(protoreflect.Name(v.text)) != nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		_, err = strconv.ParseInt(v.text, 10, 32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		_, err = strconv.ParseInt(v.text, 10, 64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		_, err = strconv.ParseUint(v.text, 10, 32)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		_, err = strconv.ParseUint(v.text, 10, 64)
	default:
		return false
	}
	return v.kind == jsonNumber && err == nil
}

// leaf decodes field fd alone, as protojson would, and reports its error.
func (d *decoder) leaf(md protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor, v *jsonValue, line int32, p Path) bool {
	obj := &jsonValue{kind: jsonObject, keys: []string{fd.JSONName()}, vals: []*jsonValue{v}}
	err := protojson.UnmarshalOptions{Resolver: supportedTypes{}}.Unmarshal(appendJSON(nil, obj), newMessage(md))
	if err == nil {
		return true
	}
	if m := fd.Message(); m != nil && m.FullName() == "google.protobuf.Duration" && !fd.IsList() && !fd.IsMap() {
		d.errorf(line, p, "invalid duration %s: write seconds with an \"s\" suffix, like \"5s\" or \"0.25s\"", appendJSON(nil, v))
		return false
	}
	d.errorf(line, p, "%s", protojsonMessage(err))
	return false
}

func newMessage(md protoreflect.MessageDescriptor) proto.Message {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		return mt.New().Interface()
	}
	return dynamicpb.NewMessage(md)
}

var protojsonNoise = regexp.MustCompile(`^proto:[\s\x{00a0}]*(\(line \d+:\d+\):[\s\x{00a0}]*)?`)

// protojsonMessage strips the package prefix and the position (of a
// document the user never wrote) from a protojson error.
func protojsonMessage(err error) string {
	return protojsonNoise.ReplaceAllString(err.Error(), "")
}
