package config

import (
	"time"

	"github.com/envoyproxy/protoc-gen-validate/validate"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The rules on message-typed fields (google.protobuf.Any, Duration,
// Timestamp), as protoc-gen-validate's templates check them; the scalar
// rules are in pgvrules.go.

func (v *validation) checkAny(e element, r *validate.AnyRules, w where) {
	if r.GetRequired() && !e.present {
		v.invalid.Addf(w.path(), "value is required")
	}
	tf := e.fd.Message().Fields().ByName("type_url")
	if !e.present || tf == nil || len(r.GetIn()) == 0 && len(r.GetNotIn()) == 0 {
		return
	}
	url := e.v.Message().Get(tf).String()
	switch {
	case len(r.GetIn()) > 0 && !contains(r.GetIn(), url):
		v.invalid.Addf(w.path(), "type URL must be in list %v", r.GetIn())
	case len(r.GetIn()) == 0 && len(r.GetNotIn()) > 0 && contains(r.GetNotIn(), url):
		v.invalid.Addf(w.path(), "type URL must not be in list %v", r.GetNotIn())
	}
}

func (v *validation) checkDuration(e element, r *validate.DurationRules, w where) {
	if r.GetRequired() && !e.present {
		v.invalid.Addf(w.path(), "value is required")
	}
	if !e.present || r.Const == nil && r.Lt == nil && r.Lte == nil && r.Gt == nil && r.Gte == nil && len(r.In) == 0 && len(r.NotIn) == 0 {
		return
	}
	d := asDuration(e.v.Message())
	if err := d.CheckValid(); err != nil {
		v.invalid.Addf(w.path(), "value is not a valid duration: %v", err)
		return
	}
	dur := d.AsDuration()
	if r.Const != nil && dur != r.Const.AsDuration() {
		v.invalid.Addf(w.path(), "value must equal %s", r.Const.AsDuration())
	}
	bound := func(b *durationpb.Duration) *time.Duration {
		if b == nil {
			return nil
		}
		x := b.AsDuration()
		return &x
	}
	less := func(a, b time.Duration) bool { return a < b }
	if reason := outOfRange(dur, bound(r.Lt), bound(r.Lte), bound(r.Gt), bound(r.Gte), less, time.Duration.String); reason != "" {
		v.invalid.Addf(w.path(), "%s", reason)
	}
	inList := func(list []*durationpb.Duration) bool {
		for _, x := range list {
			if x.AsDuration() == dur {
				return true
			}
		}
		return false
	}
	switch {
	case len(r.In) > 0 && !inList(r.In):
		v.invalid.Addf(w.path(), "value must be in list %v", r.In)
	case len(r.In) == 0 && len(r.NotIn) > 0 && inList(r.NotIn):
		v.invalid.Addf(w.path(), "value must not be in list %v", r.NotIn)
	}
}

func (v *validation) checkTimestamp(e element, r *validate.TimestampRules, w where) {
	if r.GetRequired() && !e.present {
		v.invalid.Addf(w.path(), "value is required")
	}
	if !e.present || r.Const == nil && r.Lt == nil && r.Lte == nil && r.Gt == nil && r.Gte == nil &&
		r.LtNow == nil && r.GtNow == nil && r.Within == nil {
		return
	}
	t := asTimestamp(e.v.Message())
	if err := t.CheckValid(); err != nil {
		v.invalid.Addf(w.path(), "value is not a valid timestamp: %v", err)
		return
	}
	ts := t.AsTime()
	if r.Const != nil && !ts.Equal(r.Const.AsTime()) {
		v.invalid.Addf(w.path(), "value must equal %s", r.Const.AsTime())
	}
	bound := func(b *timestamppb.Timestamp) *time.Time {
		if b == nil {
			return nil
		}
		x := b.AsTime()
		return &x
	}
	less := func(a, b time.Time) bool { return a.Before(b) }
	if r.Lt != nil || r.Lte != nil || r.Gt != nil || r.Gte != nil {
		if reason := outOfRange(ts, bound(r.Lt), bound(r.Lte), bound(r.Gt), bound(r.Gte), less, time.Time.String); reason != "" {
			v.invalid.Addf(w.path(), "%s", reason)
		}
		return
	}
	now, within := time.Now(), r.GetWithin().AsDuration()
	switch {
	case r.LtNow != nil && r.Within != nil:
		if ts.Sub(now) >= 0 || ts.Sub(now.Add(-within)) < 0 {
			v.invalid.Addf(w.path(), "value must be less than now within %s", within)
		}
	case r.LtNow != nil:
		if ts.Sub(now) >= 0 {
			v.invalid.Addf(w.path(), "value must be less than now")
		}
	case r.GtNow != nil && r.Within != nil:
		if ts.Sub(now) <= 0 || ts.Sub(now.Add(within)) > 0 {
			v.invalid.Addf(w.path(), "value must be greater than now within %s", within)
		}
	case r.GtNow != nil:
		if ts.Sub(now) <= 0 {
			v.invalid.Addf(w.path(), "value must be greater than now")
		}
	case r.Within != nil:
		if ts.Sub(now.Add(within)) >= 0 || ts.Sub(now.Add(-within)) <= 0 {
			v.invalid.Addf(w.path(), "value must be within %s of now", within)
		}
	}
}

// asDuration and asTimestamp read a well-known message through
// reflection: it may be a dynamic message.
func asDuration(m protoreflect.Message) *durationpb.Duration {
	if d, ok := m.Interface().(*durationpb.Duration); ok {
		return d
	}
	f := m.Descriptor().Fields()
	return &durationpb.Duration{Seconds: m.Get(f.ByName("seconds")).Int(), Nanos: int32(m.Get(f.ByName("nanos")).Int())}
}

func asTimestamp(m protoreflect.Message) *timestamppb.Timestamp {
	if t, ok := m.Interface().(*timestamppb.Timestamp); ok {
		return t
	}
	f := m.Descriptor().Fields()
	return &timestamppb.Timestamp{Seconds: m.Get(f.ByName("seconds")).Int(), Nanos: int32(m.Get(f.ByName("nanos")).Int())}
}
