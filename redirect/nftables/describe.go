// Package nftables installs a redirect.Ruleset natively with nftables, over
// netlink (github.com/google/nftables), as one transaction into a table of
// its own: "table inet outrider". No nft or iptables program is needed.
//
// Describe renders the ruleset in nft's own syntax, exactly as
// `nft list table inet outrider` prints it once installed; the expressions
// sent to the kernel are built in the same order as that text, as nft itself
// would build them, so the description and the kernel state can be compared.
package nftables

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/outrider-mesh/outrider/redirect"
)

// TableName is the name of the inet table this package owns.
const TableName = "outrider"

// ChainName returns the nftables name of a chain.
func ChainName(id redirect.ChainID) string {
	switch id {
	case redirect.Prerouting:
		return "prerouting"
	case redirect.Output:
		return "output"
	case redirect.Inbound:
		return "inbound"
	case redirect.InboundRedirect:
		return "inbound-redirect"
	case redirect.Outbound:
		return "outbound"
	case redirect.OutboundRedirect:
		return "outbound-redirect"
	}
	panic("nftables: unknown chain " + strconv.Itoa(int(id)))
}

// Describe renders rs as nft prints it: a valid `nft -f` input too.
func Describe(rs redirect.Ruleset) string {
	var b strings.Builder
	b.WriteString("table inet " + TableName + " {\n")
	for i, c := range rs.Chains {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("\tchain " + ChainName(c.ID) + " {\n")
		switch c.ID {
		case redirect.Prerouting:
			// nft names priority -100 "dstnat" only on the prerouting hook.
			b.WriteString("\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
		case redirect.Output:
			b.WriteString("\t\ttype nat hook output priority -100; policy accept;\n")
		}
		for _, r := range c.Rules {
			b.WriteString("\t\t" + RuleText(r) + "\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// RuleText renders one rule in nft syntax, its statements in the order the
// expressions are built.
func RuleText(r redirect.Rule) string {
	var p []string
	if needsFamilyMatch(r) {
		p = append(p, "meta nfproto "+r.Family.String())
	}
	if r.OutIface != "" {
		p = append(p, "oifname "+strconv.Quote(r.OutIface))
	}
	if r.Src.IsValid() {
		p = append(p, addrText(r.Src, "saddr", false))
	}
	if r.Dst.IsValid() {
		p = append(p, addrText(r.Dst, "daddr", r.NotDst))
	}
	switch {
	case r.DstPort != 0:
		p = append(p, "tcp dport "+strconv.Itoa(int(r.DstPort)))
	case r.TCP || r.Verdict.Kind == redirect.Redirect:
		p = append(p, "meta l4proto tcp")
	}
	if r.Owner.Kind != redirect.NoOwner {
		key := "meta skuid "
		if r.Owner.Kind == redirect.GID {
			key = "meta skgid "
		}
		op := ""
		if r.Owner.Not {
			op = "!= "
		}
		p = append(p, key+op+strconv.FormatUint(uint64(r.Owner.ID), 10))
	}
	switch r.Verdict.Kind {
	case redirect.Return:
		p = append(p, "return")
	case redirect.Jump:
		p = append(p, "jump "+ChainName(r.Verdict.Chain))
	case redirect.Redirect:
		p = append(p, "redirect to :"+strconv.Itoa(int(r.Verdict.Port)))
	}
	return strings.Join(p, " ")
}

// needsFamilyMatch reports whether a rule restricted to one family must say
// so itself: address matches carry the family already.
func needsFamilyMatch(r redirect.Rule) bool {
	if r.Family == 0 {
		return false
	}
	return !r.Src.IsValid() && !r.Dst.IsValid()
}

func addrText(p netip.Prefix, field string, not bool) string {
	proto := "ip"
	if p.Addr().Is6() {
		proto = "ip6"
	}
	if p.Bits() == 0 {
		if not {
			panic(fmt.Sprintf("nftables: a negated /0 prefix (%s) matches nothing", p))
		}
		return "meta nfproto " + map[string]string{"ip": "ipv4", "ip6": "ipv6"}[proto]
	}
	op := ""
	if not {
		op = "!= "
	}
	text := p.String()
	if p.IsSingleIP() {
		text = p.Addr().String()
	}
	return proto + " " + field + " " + op + text
}
