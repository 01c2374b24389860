package redirect

import (
	"net/netip"
)

// Family is a set of address families.
type Family uint8

// The address families a rule or ruleset can cover.
const (
	IPv4 Family = 1 << iota
	IPv6
)

// Has reports whether f includes all of g.
func (f Family) Has(g Family) bool { return f&g == g }

func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	case IPv4 | IPv6:
		return "ipv4+ipv6"
	}
	return "none"
}

// ChainID names a chain independently of the backend: each backend maps it to
// its own name (OUTRIDER_OUTPUT for iptables, outbound for nftables).
type ChainID uint8

// The chains of a ruleset. Prerouting and Output stand for the NAT hooks
// (iptables' built-in PREROUTING/OUTPUT chains, nftables base chains); the
// others are regular chains that only run when jumped to.
const (
	// Prerouting sees the first packet of every connection entering the pod.
	Prerouting ChainID = iota
	// Output sees the first packet of every connection the pod opens.
	Output
	// Inbound decides whether an inbound connection is captured.
	Inbound
	// InboundRedirect redirects to the inbound capture port.
	InboundRedirect
	// Outbound decides whether an outbound connection is captured.
	Outbound
	// OutboundRedirect redirects to the outbound capture port.
	OutboundRedirect
)

// Hook reports whether the chain is attached to a netfilter hook.
func (c ChainID) Hook() bool { return c == Prerouting || c == Output }

// Owner matches the socket that sent a packet by its UID or GID.
type Owner struct {
	// Kind is NoOwner (no match), UID or GID.
	Kind OwnerKind
	ID   uint32
	// Not inverts the match.
	Not bool
}

// OwnerKind says which identity an Owner match compares.
type OwnerKind uint8

// Owner match kinds.
const (
	NoOwner OwnerKind = iota
	UID
	GID
)

// Verdict is what a rule does when it matches.
type Verdict struct {
	Kind VerdictKind
	// Chain is the target of a Jump.
	Chain ChainID
	// Port is the target of a Redirect.
	Port uint16
}

// VerdictKind says what a matching rule does.
type VerdictKind uint8

// Verdict kinds.
const (
	// Return leaves the connection alone (in a hook chain: accept it as is).
	Return VerdictKind = iota
	// Jump continues in Chain; when Chain returns, the next rule is tried.
	Jump
	// Redirect sends the connection to Port on the local host; the
	// original destination stays readable with SO_ORIGINAL_DST.
	Redirect
)

// Rule is a match and a verdict. Every non-zero match field must hold for the
// rule to match; the zero Rule matches everything and returns.
type Rule struct {
	// Family restricts the rule to one address family even when it has no
	// address match. Zero means the family follows Src/Dst, or both.
	Family Family
	// OutIface matches the output interface ("lo").
	OutIface string
	// Src matches the source address.
	Src netip.Prefix
	// Dst matches the destination address; NotDst inverts that match.
	Dst    netip.Prefix
	NotDst bool
	// TCP matches TCP. Rules that match DstPort or Redirect imply it.
	TCP bool
	// DstPort matches the TCP destination port.
	DstPort uint16
	// Owner matches the sending socket's UID or GID.
	Owner Owner
	// Verdict is what happens when the rule matches.
	Verdict Verdict
}

// Families returns the address families the rule applies to.
func (r Rule) Families() Family {
	switch {
	case r.Family != 0:
		return r.Family
	case r.Src.IsValid():
		return familyOf(r.Src.Addr())
	case r.Dst.IsValid():
		return familyOf(r.Dst.Addr())
	}
	return IPv4 | IPv6
}

// Chain is an ordered list of rules.
type Chain struct {
	ID    ChainID
	Rules []Rule
}

// Ruleset is everything outrider-init installs in one network namespace.
// Chains come in a fixed order: hooks first, then the regular chains.
type Ruleset struct {
	// Families are the address families the ruleset covers; a backend
	// installs nothing for the others.
	Families Family
	Chains   []Chain
}

// Rules returns the rules of chain id that apply to family f.
func (rs Ruleset) Rules(id ChainID, f Family) []Rule {
	var out []Rule
	for _, c := range rs.Chains {
		if c.ID != id {
			continue
		}
		for _, r := range c.Rules {
			if r.Families()&f != 0 {
				out = append(out, r)
			}
		}
	}
	return out
}

// Len counts the rules of the ruleset.
func (rs Ruleset) Len() int {
	n := 0
	for _, c := range rs.Chains {
		n += len(c.Rules)
	}
	return n
}

func familyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}
