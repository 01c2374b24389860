package redirect

import (
	"errors"
	"net/netip"
	"slices"
)

var (
	loopbackV4 = netip.MustParsePrefix("127.0.0.0/8")
	loopbackV6 = netip.MustParsePrefix("::1/128")
)

// Build turns a valid Config into the Ruleset to install. It is pure: the
// same Config always gives the same Ruleset.
//
// The outbound chain, in order (first match wins):
//  1. excluded destination ports: leave alone;
//  2. connections from 127.0.0.6 / ::6 over lo: the proxy reaching the app
//     for an inbound connection; leave alone;
//  3. the proxy (UID or GID) connecting over lo to a non-loopback address,
//     i.e. to this pod's own IP (an app calling its own Service, sent back by
//     the outbound proxy): treat as inbound, so inbound policy applies;
//  4. anything else over lo (app to 127.0.0.1, app to its own pod IP): leave alone;
//  5. the proxy's own connections: leave alone (they would loop);
//  6. excluded CIDRs: leave alone;
//  7. included ports, then included CIDRs: redirect to the outbound port.
//
// Step 3 jumps to the inbound chain rather than straight to the inbound
// port (Istio's choice), so excluded or uncaptured inbound ports reach the
// app directly there too; it is left out when inbound capture is off.
func Build(c Config) (Ruleset, error) {
	if err := c.Validate(); err != nil {
		return Ruleset{}, err
	}
	if c.InboundPorts.Empty() && c.OutboundPorts.Empty() && c.OutboundCIDRs.Empty() {
		return Ruleset{}, errors.New("redirect: nothing to capture: inbound ports, outbound ports and outbound CIDRs are all empty")
	}
	fams := c.Families()
	// With IPv6 off, the hook rules carry an explicit family so that an
	// nftables inet table leaves IPv6 alone (iptables simply skips ip6tables).
	var hookFamily Family
	if fams == IPv4 {
		hookFamily = IPv4
	}
	rs := Ruleset{Families: fams}
	inbound := !c.InboundPorts.Empty()

	if inbound {
		rs.Chains = append(rs.Chains, Chain{ID: Prerouting, Rules: []Rule{
			{Family: hookFamily, TCP: true, Verdict: jump(Inbound)},
		}})
	}
	rs.Chains = append(rs.Chains, Chain{ID: Output, Rules: []Rule{
		{Family: hookFamily, TCP: true, Verdict: jump(Outbound)},
	}})

	if inbound {
		excluded := c.excludedInbound()
		var rules []Rule
		for _, p := range excluded {
			rules = append(rules, Rule{DstPort: p})
		}
		if c.InboundPorts.All {
			rules = append(rules, Rule{Verdict: jump(InboundRedirect)})
		}
		for _, p := range c.InboundPorts.Ports {
			if !slices.Contains(excluded, p) {
				rules = append(rules, Rule{DstPort: p, Verdict: jump(InboundRedirect)})
			}
		}
		rs.Chains = append(rs.Chains,
			Chain{ID: Inbound, Rules: rules},
			Chain{ID: InboundRedirect, Rules: []Rule{{TCP: true, Verdict: redirect(c.InboundPort)}}},
		)
	}

	rs.Chains = append(rs.Chains, Chain{ID: Outbound, Rules: outboundRules(c, inbound)})
	if !c.OutboundPorts.Empty() || !c.OutboundCIDRs.Empty() {
		rs.Chains = append(rs.Chains,
			Chain{ID: OutboundRedirect, Rules: []Rule{{TCP: true, Verdict: redirect(c.OutboundPort)}}})
	}
	return rs, nil
}

func outboundRules(c Config, inbound bool) []Rule {
	var rules []Rule
	for _, p := range c.ExcludeOutboundPorts {
		rules = append(rules, Rule{DstPort: p})
	}
	sources := []netip.Prefix{netip.PrefixFrom(InboundSourceV4, 32)}
	loopbacks := []netip.Prefix{loopbackV4}
	if c.IPv6 {
		sources = append(sources, netip.PrefixFrom(InboundSourceV6, 128))
		loopbacks = append(loopbacks, loopbackV6)
	}
	for _, src := range sources {
		rules = append(rules, Rule{OutIface: "lo", Src: src})
	}
	proxy := []Owner{{Kind: UID, ID: c.ProxyUID}, {Kind: GID, ID: c.ProxyGID}}
	if inbound {
		for _, o := range proxy {
			for _, lb := range loopbacks {
				rules = append(rules, Rule{OutIface: "lo", Dst: lb, NotDst: true, Owner: o, Verdict: jump(Inbound)})
			}
		}
	}
	rules = append(rules, Rule{OutIface: "lo"})
	for _, o := range proxy {
		rules = append(rules, Rule{Owner: o})
	}
	for _, p := range c.ExcludeOutboundCIDRs {
		rules = append(rules, Rule{Dst: p})
	}
	if c.OutboundPorts.All || c.OutboundCIDRs.All {
		// Everything left is captured; port or CIDR rules would be dead.
		return append(rules, Rule{Verdict: jump(OutboundRedirect)})
	}
	for _, p := range c.OutboundPorts.Ports {
		if !slices.Contains(c.ExcludeOutboundPorts, p) {
			rules = append(rules, Rule{DstPort: p, Verdict: jump(OutboundRedirect)})
		}
	}
	for _, p := range c.OutboundCIDRs.Prefixes {
		rules = append(rules, Rule{Dst: p, Verdict: jump(OutboundRedirect)})
	}
	return rules
}

func jump(c ChainID) Verdict       { return Verdict{Kind: Jump, Chain: c} }
func redirect(port uint16) Verdict { return Verdict{Kind: Redirect, Port: port} }
