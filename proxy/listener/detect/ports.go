package detect

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
)

// Ports is an immutable set of destination ports. The zero value is empty.
type Ports struct {
	bits *[1024]uint64 // one bit per port; nil when empty
}

// Has reports whether port is in the set.
func (s Ports) Has(port uint16) bool {
	return s.bits != nil && s.bits[port>>6]&(1<<(port&63)) != 0
}

// Empty reports whether the set has no port.
func (s Ports) Empty() bool { return s.bits == nil }

// PortsOf returns the set holding ports.
func PortsOf(ports ...uint16) Ports {
	if len(ports) == 0 {
		return Ports{}
	}
	bits := new([1024]uint64)
	for _, p := range ports {
		bits[p>>6] |= 1 << (p & 63)
	}
	return Ports{bits: bits}
}

// predicate is a translated ListenerFilterChainMatchPredicate.
type predicate func(port uint16) bool

// TranslateDisabled translates a listener filter's filter_disabled (found
// at p) into the set of destination ports on which the filter is skipped.
// Every rule of Envoy's predicate is supported (or_match, and_match,
// not_match, any_match, destination_port_range); the whole tree is
// evaluated once here, so the accept path only tests one bit.
func TranslateDisabled(pb *listenerv3.ListenerFilterChainMatchPredicate, p config.Path, errs *config.Errors) Ports {
	if pb == nil {
		return Ports{}
	}
	pred := translatePredicate(pb, p, errs)
	if pred == nil {
		return Ports{}
	}
	bits := new([1024]uint64)
	any := false
	for port := 0; port <= 65535; port++ {
		if pred(uint16(port)) {
			bits[port>>6] |= 1 << (port & 63)
			any = true
		}
	}
	if !any {
		return Ports{}
	}
	return Ports{bits: bits}
}

func translatePredicate(pb *listenerv3.ListenerFilterChainMatchPredicate, p config.Path, errs *config.Errors) predicate {
	network.RejectUnhandled(errs, pb, p, "or_match", "and_match", "not_match", "any_match", "destination_port_range")
	switch r := pb.GetRule().(type) {
	case *listenerv3.ListenerFilterChainMatchPredicate_OrMatch:
		subs := translateSet(r.OrMatch, p.Field("or_match"), errs)
		return func(port uint16) bool {
			for _, s := range subs {
				if s(port) {
					return true
				}
			}
			return false
		}
	case *listenerv3.ListenerFilterChainMatchPredicate_AndMatch:
		subs := translateSet(r.AndMatch, p.Field("and_match"), errs)
		return func(port uint16) bool {
			for _, s := range subs {
				if !s(port) {
					return false
				}
			}
			return true
		}
	case *listenerv3.ListenerFilterChainMatchPredicate_NotMatch:
		sub := translatePredicate(r.NotMatch, p.Field("not_match"), errs)
		if sub == nil {
			return nil
		}
		return func(port uint16) bool { return !sub(port) }
	case *listenerv3.ListenerFilterChainMatchPredicate_AnyMatch:
		if !r.AnyMatch {
			errs.Addf(p.Field("any_match"), "listener: any_match must be true")
			return nil
		}
		return func(uint16) bool { return true }
	case *listenerv3.ListenerFilterChainMatchPredicate_DestinationPortRange:
		rp := p.Field("destination_port_range")
		network.RejectUnhandled(errs, r.DestinationPortRange, rp, "start", "end")
		start, end := r.DestinationPortRange.GetStart(), r.DestinationPortRange.GetEnd()
		if start < 0 || end > 65536 || start >= end {
			errs.Addf(rp, "listener: port range [%d, %d) is empty or outside 0..65535", start, end)
			return nil
		}
		return func(port uint16) bool { return int32(port) >= start && int32(port) < end }
	}
	errs.Addf(p, "listener: a rule is required")
	return nil
}

func translateSet(set *listenerv3.ListenerFilterChainMatchPredicate_MatchSet, p config.Path, errs *config.Errors) []predicate {
	network.RejectUnhandled(errs, set, p, "rules")
	if len(set.GetRules()) < 2 {
		errs.Addf(p.Field("rules"), "listener: at least two rules are required")
	}
	out := make([]predicate, 0, len(set.GetRules()))
	for i, r := range set.GetRules() {
		if s := translatePredicate(r, p.Field("rules").Index(i), errs); s != nil {
			out = append(out, s)
		}
	}
	return out
}
