package config

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// Validate checks a decoded Bootstrap the way Load does: every set field
// must be in the supported subset, Envoy's own constraints (its
// protoc-gen-validate rules, pgv.go) must hold, and so must the cross-field
// rules Envoy enforces
// at load. It returns nil or a config.Errors naming every problem. Load
// calls it; call it directly for a Bootstrap that did not come from a file.
func Validate(b *bootstrapv3.Bootstrap) error {
	v := validation{}
	v.run(b)
	return v.result().Err()
}

// validation gathers the problems of one Bootstrap. Problems found inside
// a subtree that was rejected or removed (dropped) are not reported: they
// would only repeat or follow from the first problem.
type validation struct {
	unsupported Errors // the allowlist walk (always reported)
	invalid     Errors // PGV and cross-field rules (reported outside dropped)
	dropped     []Path
	pgvRules    *ruleCache // protoc-gen-validate rules read so far (pgv.go)
}

func (v *validation) run(b *bootstrapv3.Bootstrap) {
	v.message(b.ProtoReflect(), string(b.ProtoReflect().Descriptor().FullName()), "")
	v.pgv(b, "")
	v.rules(b)
}

func (v *validation) result() Errors {
	out := slices.Clone(v.unsupported)
	seen := make(map[string]bool, len(out))
	for _, e := range out {
		seen[e.Error()] = true
	}
	for _, e := range v.invalid {
		if v.isDropped(e.Path) || seen[e.Error()] {
			continue
		}
		seen[e.Error()] = true
		out = append(out, e)
	}
	return out
}

func (v *validation) isDropped(p Path) bool {
	for _, d := range v.dropped {
		if p == d || strings.HasPrefix(string(p), string(d)+".") || strings.HasPrefix(string(p), string(d)+"[") {
			return true
		}
	}
	return false
}

// message walks the set fields of m (at p, under rule set rules) against
// the allowlist, descending into supported fields and typed_configs.
func (v *validation) message(m protoreflect.Message, rules string, p Path) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		fp := p.Field(string(fd.Name()))
		r, why, found := lookup(rules, fd.Name())
		if !found {
			v.unsupported.Addf(fp, "%s", why)
			v.dropped = append(v.dropped, fp)
			if od := fd.ContainingOneof(); od != nil {
				v.dropped = append(v.dropped, p.Field(string(od.Name())))
			}
			continue
		}
		v.field(m, fd, r, p, fp)
	}
	if len(m.GetUnknown()) > 0 {
		v.unsupported.Addf(p, "unknown fields in %s", m.Descriptor().FullName())
	}
}

func (v *validation) field(m protoreflect.Message, fd protoreflect.FieldDescriptor, r fieldRule, p, fp Path) {
	val := m.Get(fd)
	switch {
	case fd.IsMap():
		var keys []protoreflect.MapKey
		val.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			kp := fp.Key(k.String())
			if !allowedKey(r, k.String()) {
				v.unsupported.Addf(kp, "key %q is not supported", k.String())
				v.dropped = append(v.dropped, kp)
				continue
			}
			v.value(fd.MapValue(), r, val.Map().Get(k), k.String(), kp, kp)
		}
	case fd.IsList():
		list := val.List()
		for i := 0; i < list.Len(); i++ {
			v.value(fd, r, list.Get(i), "", fp.Index(i), fp.Index(i))
		}
	default:
		name := ""
		if nf := m.Descriptor().Fields().ByName("name"); nf != nil && nf.Kind() == protoreflect.StringKind && !nf.IsList() {
			name = m.Get(nf).String()
		}
		v.value(fd, r, val, name, p, fp)
	}
}

// value checks one value of a field described by vd.
func (v *validation) value(vd protoreflect.FieldDescriptor, r fieldRule, val protoreflect.Value, ownerName string, ownerPath, p Path) {
	if ed := vd.Enum(); ed != nil {
		n := protoreflect.Name("value " + strconv.Itoa(int(val.Enum())))
		if ev := ed.Values().ByNumber(val.Enum()); ev != nil {
			n = ev.Name()
		}
		if !checkEnum(r, n) {
			v.unsupported.Addf(p, "%s %s is not supported (supported: %s)", vd.Name(), n, strings.Join(r.enums, ", "))
			v.dropped = append(v.dropped, p)
		}
		return
	}
	md := vd.Message()
	switch {
	case md == nil:
		return
	case md.FullName() == anyFullName:
		a, _ := val.Message().Interface().(*anypb.Any)
		v.any(r, a, ownerName, ownerPath, p)
	case isWellKnown(md):
		return
	default:
		v.message(val.Message(), ruleSet(r, md), p)
	}
}

// any unpacks a typed_config, checks that its type is supported where it
// is, and walks and validates its contents at p (so that paths read
// "…typed_config.http_filters[1]").
func (v *validation) any(r fieldRule, a *anypb.Any, ownerName string, ownerPath, p Path) {
	if a == nil {
		return
	}
	t := typeName(a.GetTypeUrl())
	inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{Resolver: supportedTypes{}})
	switch {
	case errors.Is(err, protoregistry.NotFound):
		v.unsupported.Addf(ownerPath, "%s", unknownType(t, ownerName))
		v.dropped = append(v.dropped, p)
		return
	case err != nil:
		v.unsupported.Addf(p, "invalid %s: %v", t, err)
		v.dropped = append(v.dropped, p)
		return
	}
	if why, allowed := checkType(r, t); !allowed {
		v.unsupported.Addf(ownerPath, "%s", why)
		v.dropped = append(v.dropped, p)
		return
	}
	v.message(inner.ProtoReflect(), string(t), p)
	v.pgv(inner, p)
}
