package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/envoyproxy/protoc-gen-validate/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Envoy's own constraints on each field (a name is required, a port is at
// most 65535, …) are protoc-gen-validate rules, carried as options in the
// messages' descriptors. go-control-plane also ships them as generated Go
// (ValidateAll), but calling that through an interface makes the linker
// keep the generated validation of every message type linked: 6 MB of the
// proxy binary and ~3 MB of its resident memory, for code that runs once
// at load. (Linking text/template, which grpc-go's tracing does, keeps
// every exported method anyway; the gain comes once grpc-go is gone.) pgv
// interprets the rules from the descriptors instead, with the generated
// code's semantics and messages: pgv_test.go checks that both report the
// same on every message type linked.

// pgv checks m and the messages below it (not inside typed_configs: the
// allowlist walk validates each one after unpacking it) against their
// rules, and records each violation at its field path.
func (v *validation) pgv(m proto.Message, p Path) {
	v.pgvMessage(m.ProtoReflect(), &where{name: string(p), index: -1})
}

// where is a place in the message tree. Its Path is built only for a
// report: a validation visits every field of every message, and most
// have nothing to say.
type where struct {
	up    *where // the message holding the field; nil at the root
	name  string // the field's (or oneof's) name; the root's path at the root
	index int    // the list item's index, or -1
	key   *protoreflect.MapKey
}

func (w *where) field(name string) where { return where{up: w, name: name, index: -1} }

func (w where) path() Path {
	if w.up == nil {
		return Path(w.name)
	}
	p := w.up.path().Field(w.name)
	if w.index >= 0 {
		p = p.Index(w.index)
	}
	if w.key != nil {
		p = p.Key(fmt.Sprint(w.key.Interface()))
	}
	return p
}

// pgvMessage follows the order of the generated code: the fields outside
// oneofs in declaration order, then each oneof, then proto3 optional
// fields.
func (v *validation) pgvMessage(m protoreflect.Message, w *where) {
	md := m.Descriptor()
	if v.pgvRules == nil {
		v.pgvRules = &ruleCache{}
	}
	if v.pgvRules.messageSkipped(md) {
		return
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		if fd := fields.Get(i); fd.ContainingOneof() == nil {
			v.pgvField(m, fd, w)
		}
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		od := oneofs.Get(i)
		if od.IsSynthetic() {
			continue
		}
		if fd := m.WhichOneof(od); fd != nil {
			v.pgvField(m, fd, w)
		} else if v.pgvRules.oneofRequired(od) {
			v.invalid.Addf(w.field(string(od.Name())).path(), "value is required")
		}
	}
	for i := 0; i < oneofs.Len(); i++ {
		if od := oneofs.Get(i); od.IsSynthetic() && m.Has(od.Fields().Get(0)) {
			v.pgvField(m, od.Fields().Get(0), w)
		}
	}
}

// pgvField checks one field of m with its rules.
func (v *validation) pgvField(m protoreflect.Message, fd protoreflect.FieldDescriptor, w *where) {
	rules := v.pgvRules.field(fd)
	if rules == nil && (fd.Message() == nil || !m.Has(fd)) {
		return // nothing to check, nothing inside
	}
	fp := w.field(string(fd.Name()))
	switch {
	case fd.IsList():
		rr := rules.GetRepeated()
		if rr == nil && rules.GetType() != nil {
			return // not a repeated rule: the generator refuses those
		}
		v.pgvList(m.Get(fd).List(), fd, rr, fp)
	case fd.IsMap():
		mr := rules.GetMap()
		if mr == nil && (rules.GetType() != nil || fd.MapValue().Message() == nil) {
			return
		}
		v.pgvMap(m.Get(fd).Map(), fd, mr, fp)
	default:
		v.pgvValue(element{fd: fd, v: m.Get(fd), present: m.Has(fd)}, rules, fp)
	}
}

// element is one value to check: a singular field, a list item, a map
// key or value. fd gives its kind; for a map key or value, fd is the
// map entry's key or value field.
type element struct {
	fd      protoreflect.FieldDescriptor
	v       protoreflect.Value
	present bool // for a message: set (not nil)
}

func (v *validation) pgvList(l protoreflect.List, fd protoreflect.FieldDescriptor, r *validate.RepeatedRules, w where) {
	if r == nil {
		r = &validate.RepeatedRules{}
	}
	if r.GetIgnoreEmpty() && l.Len() == 0 {
		return
	}
	n := uint64(l.Len())
	switch {
	case r.GetMinItems() != 0 && r.GetMinItems() == r.GetMaxItems():
		if n != r.GetMinItems() {
			v.invalid.Addf(w.path(), "value must contain exactly %d item(s)", r.GetMinItems())
		}
	case r.GetMinItems() != 0 && r.MaxItems != nil:
		if n < r.GetMinItems() || n > r.GetMaxItems() {
			v.invalid.Addf(w.path(), "value must contain between %d and %d items, inclusive", r.GetMinItems(), r.GetMaxItems())
		}
	case r.GetMinItems() != 0:
		if n < r.GetMinItems() {
			v.invalid.Addf(w.path(), "value must contain at least %d item(s)", r.GetMinItems())
		}
	case r.MaxItems != nil:
		if n > r.GetMaxItems() {
			v.invalid.Addf(w.path(), "value must contain no more than %d item(s)", r.GetMaxItems())
		}
	}
	items := r.GetItems()
	checkItems := fd.Message() != nil || items.GetType() != nil
	if !r.GetUnique() && !checkItems {
		return
	}
	var seen map[any]bool
	if r.GetUnique() {
		seen = map[any]bool{}
	}
	for i := 0; i < l.Len(); i++ {
		ip := w
		ip.index = i
		item := l.Get(i)
		if seen != nil {
			k := uniqueKey(item)
			if seen[k] {
				v.invalid.Addf(ip.path(), "repeated value must contain unique items")
			}
			seen[k] = true
		}
		if checkItems {
			v.pgvValue(element{fd: fd, v: item, present: fd.Message() == nil || item.Message().IsValid()}, items, ip)
		}
	}
}

// uniqueKey is a comparable form of a repeated scalar (bytes as a string).
func uniqueKey(v protoreflect.Value) any {
	if b, ok := v.Interface().([]byte); ok {
		return string(b)
	}
	return v.Interface()
}

func (v *validation) pgvMap(mp protoreflect.Map, fd protoreflect.FieldDescriptor, r *validate.MapRules, w where) {
	if r == nil {
		r = &validate.MapRules{}
	}
	if r.GetIgnoreEmpty() && mp.Len() == 0 {
		return
	}
	n := uint64(mp.Len())
	switch {
	case r.GetMinPairs() != 0 && r.GetMinPairs() == r.GetMaxPairs():
		if n != r.GetMinPairs() {
			v.invalid.Addf(w.path(), "value must contain exactly %d pair(s)", r.GetMinPairs())
		}
	case r.GetMinPairs() != 0 && r.MaxPairs != nil:
		if n < r.GetMinPairs() || n > r.GetMaxPairs() {
			v.invalid.Addf(w.path(), "value must contain between %d and %d pairs, inclusive", r.GetMinPairs(), r.GetMaxPairs())
		}
	case r.GetMinPairs() != 0:
		if n < r.GetMinPairs() {
			v.invalid.Addf(w.path(), "value must contain at least %d pair(s)", r.GetMinPairs())
		}
	case r.MaxPairs != nil:
		if n > r.GetMaxPairs() {
			v.invalid.Addf(w.path(), "value must contain no more than %d pair(s)", r.GetMaxPairs())
		}
	}
	kf, vf := fd.MapKey(), fd.MapValue()
	keyRules, valRules := r.GetKeys(), r.GetValues()
	checkVals := vf.Message() != nil || valRules.GetType() != nil
	if !r.GetNoSparse() && !checkVals && keyRules.GetType() == nil {
		return
	}
	// The generated code walks the keys sorted, for a stable report.
	keys := make([]protoreflect.MapKey, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	sortMapKeys(keys)
	for _, k := range keys {
		kp := w
		kp.key = &k
		val := mp.Get(k)
		if r.GetNoSparse() && vf.Message() != nil && !val.Message().IsValid() {
			v.invalid.Addf(kp.path(), "value cannot be sparse, all pairs must be non-nil")
		}
		if keyRules.GetType() != nil {
			v.pgvValue(element{fd: kf, v: k.Value(), present: true}, keyRules, kp)
		}
		if checkVals {
			v.pgvValue(element{fd: vf, v: val, present: vf.Message() == nil || val.Message().IsValid()}, valRules, kp)
		}
	}
}

// sortMapKeys orders map keys as the generated code does: by value.
func sortMapKeys(keys []protoreflect.MapKey) {
	slices.SortFunc(keys, func(a, b protoreflect.MapKey) int {
		switch x := a.Interface().(type) {
		case string:
			return strings.Compare(x, b.String())
		case bool:
			switch y := b.Bool(); {
			case x == y:
				return 0
			case !x:
				return -1
			}
			return 1
		case int32, int64:
			return cmp.Compare(a.Int(), b.Int())
		default:
			return cmp.Compare(a.Uint(), b.Uint())
		}
	})
}

// pgvValue checks one value with its field rules (nil: none, but a
// message is still checked inside).
func (v *validation) pgvValue(e element, rules *validate.FieldRules, w where) {
	md := e.fd.Message()
	switch r := rules.GetType().(type) {
	case nil:
		if md == nil {
			return
		}
		if rules.GetMessage().GetRequired() && !e.present {
			v.invalid.Addf(w.path(), "value is required")
		}
		// The generated code does not look inside protobuf's own types
		// (nor inside an Any): they carry no rules.
		if !rules.GetMessage().GetSkip() && e.present && !isWellKnown(md) {
			v.pgvMessage(e.v.Message(), &w)
		}
	case *validate.FieldRules_Duration:
		v.checkDuration(e, r.Duration, w)
	case *validate.FieldRules_Timestamp:
		v.checkTimestamp(e, r.Timestamp, w)
	case *validate.FieldRules_Any:
		v.checkAny(e, r.Any, w)
	default:
		if md != nil {
			// A scalar rule on a wrapper (UInt32Value, StringValue, …)
			// applies to its value, when it is set.
			if !e.present {
				if rules.GetMessage().GetRequired() {
					v.invalid.Addf(w.path(), "value is required and must not be nil.")
				}
				return
			}
			wrapped := e.v.Message()
			vfd := md.Fields().ByName("value")
			e = element{fd: vfd, v: wrapped.Get(vfd), present: true}
		}
		v.checkScalar(e, rules, w)
	}
}

// ruleCache holds the rules of the descriptors one validation meets:
// reading an option decodes it.
type ruleCache struct {
	fields  map[protoreflect.FieldDescriptor]*validate.FieldRules
	skipped map[protoreflect.MessageDescriptor]bool
	oneofs  map[protoreflect.OneofDescriptor]bool
}

func (c *ruleCache) field(fd protoreflect.FieldDescriptor) *validate.FieldRules {
	if r, ok := c.fields[fd]; ok {
		return r
	}
	var r *validate.FieldRules
	if opts := fd.Options(); opts != nil && proto.HasExtension(opts, validate.E_Rules) {
		r = proto.GetExtension(opts, validate.E_Rules).(*validate.FieldRules)
	}
	if c.fields == nil {
		c.fields = map[protoreflect.FieldDescriptor]*validate.FieldRules{}
	}
	c.fields[fd] = r
	return r
}

// messageSkipped reports a message whose validation is disabled, or which
// the generator ignores.
func (c *ruleCache) messageSkipped(md protoreflect.MessageDescriptor) bool {
	if s, ok := c.skipped[md]; ok {
		return s
	}
	s := false
	if opts := md.Options(); opts != nil {
		s = proto.GetExtension(opts, validate.E_Disabled).(bool) || proto.GetExtension(opts, validate.E_Ignored).(bool)
	}
	if c.skipped == nil {
		c.skipped = map[protoreflect.MessageDescriptor]bool{}
	}
	c.skipped[md] = s
	return s
}

func (c *ruleCache) oneofRequired(od protoreflect.OneofDescriptor) bool {
	if r, ok := c.oneofs[od]; ok {
		return r
	}
	r := false
	if opts := od.Options(); opts != nil {
		r = proto.GetExtension(opts, validate.E_Required).(bool)
	}
	if c.oneofs == nil {
		c.oneofs = map[protoreflect.OneofDescriptor]bool{}
	}
	c.oneofs[od] = r
	return r
}
