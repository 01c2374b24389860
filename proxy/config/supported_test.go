package config

import (
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// descriptorOf returns the message a rule set describes: its name up to an
// optional "/variant".
func descriptorOf(t *testing.T, rules string) protoreflect.MessageDescriptor {
	t.Helper()
	name, _, _ := strings.Cut(rules, "/")
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		t.Fatalf("rule set %q: no such message: %v", rules, err)
	}
	return mt.Descriptor()
}

func TestAllowlistNamesOnlyRealFieldsValuesAndTypes(t *testing.T) {
	for rules, fields := range supported {
		md := descriptorOf(t, rules)
		for name, r := range fields {
			fd := md.Fields().ByName(protoreflect.Name(name))
			if fd == nil {
				t.Errorf("%s: no field %q", rules, name)
				continue
			}
			for _, e := range r.enums {
				if fd.Enum() == nil || fd.Enum().Values().ByName(protoreflect.Name(e)) == nil {
					t.Errorf("%s.%s: no enum value %q", rules, name, e)
				}
			}
			for _, typ := range r.types {
				if _, ok := extensionNames[typ]; !ok {
					t.Errorf("%s.%s: type %q is not in extensionNames", rules, name, typ)
				}
				if _, ok := supported[typ]; !ok {
					t.Errorf("%s.%s: type %q has no rule set", rules, name, typ)
				}
			}
			if r.rules != "" {
				if _, ok := supported[r.rules]; !ok {
					t.Errorf("%s.%s: rule set %q does not exist", rules, name, r.rules)
				} else if fd.Message() == nil || descriptorOf(t, r.rules).FullName() != fd.Message().FullName() {
					t.Errorf("%s.%s: rule set %q is for another message", rules, name, r.rules)
				}
			}
		}
	}
	for _, table := range []map[string]map[string]bool{later} {
		for rules, fields := range table {
			md := descriptorOf(t, rules)
			for name := range fields {
				if md.Fields().ByName(protoreflect.Name(name)) == nil {
					t.Errorf("later: %s has no field %q", rules, name)
				}
				if _, ok := supported[rules][name]; ok {
					t.Errorf("later: %s.%s is also supported", rules, name)
				}
			}
		}
	}
	for rules, fields := range hints {
		md := descriptorOf(t, rules)
		for name := range fields {
			if md.Fields().ByName(protoreflect.Name(name)) == nil {
				t.Errorf("hints: %s has no field %q", rules, name)
			}
		}
	}
	for typ := range extensionNames {
		if _, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ)); err != nil {
			t.Errorf("supported type %s is not registered: import its package in types.go", typ)
		}
	}
}

func TestEveryMessageReachableThroughTheAllowlistHasRules(t *testing.T) {
	seen := map[string]bool{}
	var walk func(rules string, md protoreflect.MessageDescriptor, path string)
	walk = func(rules string, md protoreflect.MessageDescriptor, path string) {
		if seen[rules] {
			return
		}
		seen[rules] = true
		fields, ok := supported[rules]
		if !ok {
			t.Errorf("%s: message %s is reachable but has no rule set", path, rules)
			return
		}
		for name, r := range fields {
			fd := md.Fields().ByName(protoreflect.Name(name))
			if fd == nil {
				continue // reported by the test above
			}
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			m := fd.Message()
			switch {
			case m == nil:
			case m.FullName() == anyFullName:
				if len(r.types) == 0 {
					t.Errorf("%s.%s: a typed_config without types", path, name)
				}
				for _, typ := range r.types {
					walk(typ, descriptorOf(t, typ), path+"."+name)
				}
			case isWellKnown(m):
			default:
				walk(ruleSet(r, m), m, path+"."+name)
			}
		}
	}
	walk(string((&bootstrapv3.Bootstrap{}).ProtoReflect().Descriptor().FullName()), (&bootstrapv3.Bootstrap{}).ProtoReflect().Descriptor(), "bootstrap")
	for rules := range supported {
		if !seen[rules] {
			t.Errorf("rule set %s is never reached from the Bootstrap", rules)
		}
	}
}

// TestFullConfigUsesEverySupportedField keeps testdata/full.yaml complete:
// it is the acceptance test of the whole subset and its example.
func TestFullConfigUsesEverySupportedField(t *testing.T) {
	b, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	used := map[string]bool{}
	var walk func(m protoreflect.Message, rules string)
	walk = func(m protoreflect.Message, rules string) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			r := supported[rules][string(fd.Name())]
			used[rules+"."+string(fd.Name())] = true
			visit := func(vd protoreflect.FieldDescriptor, v protoreflect.Value) {
				md := vd.Message()
				switch {
				case md == nil || (isWellKnown(md) && md.FullName() != anyFullName):
				case md.FullName() == anyFullName:
					inner := unpackAny(t, v.Message())
					walk(inner, string(inner.Descriptor().FullName()))
				default:
					walk(v.Message(), ruleSet(r, md))
				}
			}
			switch {
			case fd.IsMap():
				v.Map().Range(func(_ protoreflect.MapKey, e protoreflect.Value) bool { visit(fd.MapValue(), e); return true })
			case fd.IsList():
				for i := 0; i < v.List().Len(); i++ {
					visit(fd, v.List().Get(i))
				}
			default:
				visit(fd, v)
			}
			return true
		})
	}
	walk(b.ProtoReflect(), string(b.ProtoReflect().Descriptor().FullName()))
	for rules, fields := range supported {
		md := descriptorOf(t, rules)
		for name, r := range fields {
			// An enum set to its zero value is indistinguishable from unset.
			if ed := md.Fields().ByName(protoreflect.Name(name)).Enum(); ed != nil && checkEnum(r, ed.Values().ByNumber(0).Name()) {
				continue
			}
			if !used[rules+"."+name] {
				t.Errorf("testdata/full.yaml does not use %s.%s", rules, name)
			}
		}
	}
}
