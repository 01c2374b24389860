// Package redirect decides which TCP connections of a pod go through the
// sidecar and builds the netfilter ruleset that sends them there.
//
// The decision is made once, purely: Build turns a Config into a Ruleset, a
// backend-neutral list of chains and rules. Backends (redirect/iptables,
// redirect/nftables) render that Ruleset into their own language, install it
// atomically and read it back. Nothing in this package touches the kernel.
//
// The rules follow Istio's istio-iptables, which users of a mesh already know:
// outbound TCP goes to the outbound capture port (15001) unless it comes from
// the proxy's UID/GID or stays on loopback; inbound TCP goes to the inbound
// capture port (15006) unless its port is excluded; the proxy reaches the
// application from 127.0.0.6 (::6) and those connections are left alone.
package redirect

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Conventional ports and identities of the sidecar.
const (
	DefaultProxyUID     = 1337
	DefaultProxyGID     = 1337
	DefaultOutboundPort = 15001
	DefaultInboundPort  = 15006
)

// AlwaysExcludedInboundPorts are the proxy's own ports (admin, agent, health,
// Prometheus). They are never captured, whatever the flags say: capturing them
// would send kubelet probes and scrapes through the inbound listener.
var AlwaysExcludedInboundPorts = []uint16{15000, 15020, 15021, 15090}

// Source addresses the proxy binds when it connects to the application for an
// inbound connection. The rules never capture connections from them, and the
// application sees them as the peer address.
var (
	InboundSourceV4 = netip.MustParseAddr("127.0.0.6")
	InboundSourceV6 = netip.MustParseAddr("::6")
)

// Config says what to capture. Build it with DefaultConfig and change fields;
// the zero Config captures nothing and is rejected by Validate.
type Config struct {
	// ProxyUID and ProxyGID identify the proxy's own sockets, which are never
	// captured (they would loop).
	ProxyUID, ProxyGID uint32
	// OutboundPort is where outbound connections are redirected (15001).
	OutboundPort uint16
	// InboundPort is where inbound connections are redirected (15006).
	InboundPort uint16

	// InboundPorts are the destination ports of inbound connections to
	// capture. All means every port; an empty set disables inbound capture.
	InboundPorts PortSet
	// ExcludeInboundPorts are never captured, in addition to
	// AlwaysExcludedInboundPorts.
	ExcludeInboundPorts []uint16

	// OutboundPorts captures outbound connections to these destination
	// ports whatever their destination address (Istio's includeOutboundPorts).
	// Empty means no port-based capture: OutboundCIDRs decides.
	OutboundPorts PortSet
	// ExcludeOutboundPorts are never captured; exclusions win over inclusions.
	ExcludeOutboundPorts []uint16
	// OutboundCIDRs captures outbound connections to these destinations.
	// All (the default) captures every destination; empty captures none
	// (then only OutboundPorts capture).
	OutboundCIDRs CIDRSet
	// ExcludeOutboundCIDRs are never captured; exclusions win over inclusions.
	ExcludeOutboundCIDRs []netip.Prefix

	// IPv6 installs the IPv6 rules too. When false, IPv6 traffic is left
	// alone entirely and no IPv6 address may appear in the lists above.
	IPv6 bool
}

// DefaultConfig is what outrider-init does without flags: capture every
// inbound and outbound TCP connection, IPv4 only.
func DefaultConfig() Config {
	return Config{
		ProxyUID:      DefaultProxyUID,
		ProxyGID:      DefaultProxyGID,
		OutboundPort:  DefaultOutboundPort,
		InboundPort:   DefaultInboundPort,
		InboundPorts:  PortSet{All: true},
		OutboundCIDRs: CIDRSet{All: true},
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.OutboundPort == 0 {
		errs = append(errs, errors.New("outbound port must not be 0"))
	}
	if c.InboundPort == 0 {
		errs = append(errs, errors.New("inbound port must not be 0"))
	}
	if c.OutboundPort != 0 && c.OutboundPort == c.InboundPort {
		errs = append(errs, fmt.Errorf("outbound and inbound ports must differ (both %d)", c.OutboundPort))
	}
	check := func(what string, ps []netip.Prefix) {
		for _, p := range ps {
			if p.Addr().Is6() && !c.IPv6 {
				errs = append(errs, fmt.Errorf("%s: %s is IPv6 but IPv6 is off", what, p))
			}
		}
	}
	check("outbound CIDRs", c.OutboundCIDRs.Prefixes)
	check("excluded outbound CIDRs", c.ExcludeOutboundCIDRs)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	return nil
}

// Families returns the address families the rules cover.
func (c Config) Families() Family {
	if c.IPv6 {
		return IPv4 | IPv6
	}
	return IPv4
}

// excludedInbound returns the always-excluded ports followed by the user's,
// without duplicates, in a stable order.
func (c Config) excludedInbound() []uint16 {
	out := slices.Clone(AlwaysExcludedInboundPorts)
	for _, p := range c.ExcludeInboundPorts {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// PortSet is a set of TCP ports, or all of them.
type PortSet struct {
	// All matches every port; Ports is then empty.
	All   bool
	Ports []uint16
}

// Empty reports whether the set matches no port.
func (s PortSet) Empty() bool { return !s.All && len(s.Ports) == 0 }

// String formats the set as ParsePorts reads it.
func (s PortSet) String() string {
	if s.All {
		return "*"
	}
	return joinPorts(s.Ports)
}

// ParsePortSet reads "*" (every port), "" (none) or a comma-separated list.
func ParsePortSet(s string) (PortSet, error) {
	if strings.TrimSpace(s) == "*" {
		return PortSet{All: true}, nil
	}
	ports, err := ParsePorts(s)
	return PortSet{Ports: ports}, err
}

// ParsePorts reads a comma-separated list of ports ("80,443"); "" is none.
// Duplicates are dropped; the order is kept, as it is the rule order.
func ParsePorts(s string) ([]uint16, error) {
	var out []uint16
	var errs []error
	for _, f := range splitList(s) {
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 {
			errs = append(errs, fmt.Errorf("%q is not a port (1-65535)", f))
			continue
		}
		if !slices.Contains(out, uint16(n)) {
			out = append(out, uint16(n))
		}
	}
	return out, errors.Join(errs...)
}

// CIDRSet is a set of destination prefixes, or every destination.
type CIDRSet struct {
	// All matches every destination; Prefixes is then empty.
	All      bool
	Prefixes []netip.Prefix
}

// Empty reports whether the set matches no destination.
func (s CIDRSet) Empty() bool { return !s.All && len(s.Prefixes) == 0 }

// ParseCIDRSet reads "*" (everything), "" (nothing) or a comma-separated
// list of prefixes; a bare address means a single host.
func ParseCIDRSet(s string) (CIDRSet, error) {
	if strings.TrimSpace(s) == "*" {
		return CIDRSet{All: true}, nil
	}
	ps, err := ParseCIDRs(s)
	return CIDRSet{Prefixes: ps}, err
}

// ParseCIDRs reads a comma-separated list of prefixes ("10.0.0.0/8,fd00::/8").
// Prefixes are masked ("10.1.2.3/8" means 10.0.0.0/8); a bare address is a
// single host; duplicates are dropped.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, f := range splitList(s) {
		var p netip.Prefix
		var err error
		if strings.Contains(f, "/") {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(f)
			if err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			errs = append(errs, fmt.Errorf("%q is not an IPv4 or IPv6 CIDR", f))
			continue
		}
		p = p.Masked()
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func joinPorts(ps []uint16) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = strconv.Itoa(int(p))
	}
	return strings.Join(parts, ",")
}
