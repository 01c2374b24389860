// Package iptables installs a redirect.Ruleset with iptables-restore, in the
// nat table, in chains of its own (OUTRIDER_*), plus one jump from each of the
// built-in PREROUTING and OUTPUT chains. It works with both the nf_tables and
// the legacy variants of iptables.
//
// Rules are rendered exactly as iptables-save prints them, so that reading
// them back is a plain comparison of lines.
package iptables

import (
	"strconv"
	"strings"

	"github.com/outrider-mesh/outrider/redirect"
)

// ChainPrefix starts the name of every chain this package creates; chains
// with it belong to outrider-init and nothing else.
const ChainPrefix = "OUTRIDER_"

// ChainName returns the iptables name of a chain.
func ChainName(id redirect.ChainID) string {
	switch id {
	case redirect.Prerouting:
		return "PREROUTING"
	case redirect.Output:
		return "OUTPUT"
	case redirect.Inbound:
		return ChainPrefix + "INBOUND"
	case redirect.InboundRedirect:
		return ChainPrefix + "IN_REDIRECT"
	case redirect.Outbound:
		return ChainPrefix + "OUTPUT"
	case redirect.OutboundRedirect:
		return ChainPrefix + "REDIRECT"
	}
	panic("iptables: unknown chain " + strconv.Itoa(int(id)))
}

// Restore renders the iptables-restore --noflush input that installs the
// rules of rs for family f (iptables for IPv4, ip6tables for IPv6) into a
// namespace where none of our chains exist. Declaring a chain flushes it, so
// the same text also replaces our chains; Apply adds the deletion of old jumps.
func Restore(rs redirect.Ruleset, f redirect.Family) string {
	var b strings.Builder
	b.WriteString("*nat\n")
	for _, name := range ownChains(rs) {
		b.WriteString(":" + name + " - [0:0]\n")
	}
	for _, line := range ruleLines(rs, f) {
		b.WriteString(line + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// ownChains lists the names of the chains rs creates.
func ownChains(rs redirect.Ruleset) []string {
	var out []string
	for _, c := range rs.Chains {
		if !c.ID.Hook() {
			out = append(out, ChainName(c.ID))
		}
	}
	return out
}

// ruleLines renders the rules of rs for family f, hook chains first, in
// iptables-save's format ("-A CHAIN match... -j TARGET").
func ruleLines(rs redirect.Ruleset, f redirect.Family) []string {
	var out []string
	for _, c := range rs.Chains {
		for _, r := range rs.Rules(c.ID, f) {
			out = append(out, "-A "+ChainName(c.ID)+" "+RuleSpec(r))
		}
	}
	return out
}

// RuleSpec renders one rule's match and target in the canonical order
// iptables-save prints them: addresses, interface, protocol, matches, target.
func RuleSpec(r redirect.Rule) string {
	var p []string
	if r.Src.IsValid() {
		p = append(p, "-s", r.Src.String())
	}
	if r.Dst.IsValid() {
		if r.NotDst {
			p = append(p, "!")
		}
		p = append(p, "-d", r.Dst.String())
	}
	if r.OutIface != "" {
		p = append(p, "-o", r.OutIface)
	}
	if r.TCP || r.DstPort != 0 || r.Verdict.Kind == redirect.Redirect {
		p = append(p, "-p", "tcp")
	}
	if r.DstPort != 0 {
		p = append(p, "-m", "tcp", "--dport", strconv.Itoa(int(r.DstPort)))
	}
	if r.Owner.Kind != redirect.NoOwner {
		p = append(p, "-m", "owner")
		if r.Owner.Not {
			p = append(p, "!")
		}
		flag := "--uid-owner"
		if r.Owner.Kind == redirect.GID {
			flag = "--gid-owner"
		}
		p = append(p, flag, strconv.FormatUint(uint64(r.Owner.ID), 10))
	}
	switch r.Verdict.Kind {
	case redirect.Return:
		p = append(p, "-j", "RETURN")
	case redirect.Jump:
		p = append(p, "-j", ChainName(r.Verdict.Chain))
	case redirect.Redirect:
		p = append(p, "-j", "REDIRECT", "--to-ports", strconv.Itoa(int(r.Verdict.Port)))
	}
	return strings.Join(p, " ")
}

// Render returns the dry-run text: the restore input for each family, with
// the command that takes it.
func Render(rs redirect.Ruleset) string {
	var b strings.Builder
	for _, f := range []redirect.Family{redirect.IPv4, redirect.IPv6} {
		if !rs.Families.Has(f) {
			continue
		}
		b.WriteString("# " + tool(f, "restore") + " --noflush\n")
		b.WriteString(Restore(rs, f))
	}
	return b.String()
}

// tool names the iptables program for family f ("iptables-save", "ip6tables-restore").
func tool(f redirect.Family, verb string) string {
	if f == redirect.IPv6 {
		return "ip6tables-" + verb
	}
	return "iptables-" + verb
}
