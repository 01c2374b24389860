package config

import (
	"net/netip"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// This file and rules_listener.go hold the cross-field rules Envoy enforces
// when it loads a configuration and that the generated validation cannot
// express. They only look at the supported subset.

// rules checks the whole Bootstrap.
func (v *validation) rules(b *bootstrapv3.Bootstrap) {
	p := Path("static_resources")
	clusters := v.clusterRules(b.GetStaticResources().GetClusters(), p.Field("clusters"))
	v.listenerRules(b.GetStaticResources().GetListeners(), p.Field("listeners"), clusters)
	if sa := b.GetAdmin().GetAddress().GetSocketAddress(); sa != nil {
		v.ipAddress(sa.GetAddress(), Path("admin.address.socket_address.address"))
	}
}

// clusterRules checks each cluster and returns the set of cluster names,
// which routes and tcp_proxy must refer to.
func (v *validation) clusterRules(cs []*clusterv3.Cluster, p Path) map[string]bool {
	index := make(map[string]int, len(cs))
	for i, c := range cs {
		cp := p.Index(i)
		if j, dup := index[c.GetName()]; dup {
			v.invalid.Addf(cp.Field("name"), "duplicate cluster name %q (also clusters[%d])", c.GetName(), j)
		} else {
			index[c.GetName()] = i
		}
		v.clusterDiscovery(c, cp)
		v.endpoints(c, cp)
		if sa := c.GetUpstreamBindConfig().GetSourceAddress(); sa != nil {
			v.ipAddress(sa.GetAddress(), cp.Field("upstream_bind_config").Field("source_address").Field("address"))
		}
		if n := len(c.GetCircuitBreakers().GetThresholds()); n > 1 {
			v.invalid.Addf(cp.Field("circuit_breakers").Field("thresholds").Index(n-1), "only one thresholds entry (priority DEFAULT) is allowed")
		}
	}
	names := make(map[string]bool, len(index))
	for n := range index {
		names[n] = true
	}
	return names
}

// clusterDiscovery checks the pairing of type and lb_policy, as Envoy does.
func (v *validation) clusterDiscovery(c *clusterv3.Cluster, p Path) {
	origDst := c.GetType() == clusterv3.Cluster_ORIGINAL_DST
	provided := c.GetLbPolicy() == clusterv3.Cluster_CLUSTER_PROVIDED
	switch {
	case origDst && !provided:
		v.invalid.Addf(p.Field("lb_policy"), "lb_policy %s is not valid for an ORIGINAL_DST cluster: it requires CLUSTER_PROVIDED", c.GetLbPolicy())
	case !origDst && provided:
		v.invalid.Addf(p.Field("lb_policy"), "lb_policy CLUSTER_PROVIDED is only valid for an ORIGINAL_DST cluster")
	}
	if origDst && c.GetLoadAssignment() != nil {
		v.invalid.Addf(p.Field("load_assignment"), "an ORIGINAL_DST cluster must not have a load_assignment: it connects to each connection's original destination")
	}
}

// endpoints checks the addresses of a cluster's endpoints for its type.
func (v *validation) endpoints(c *clusterv3.Cluster, p Path) {
	p = p.Field("load_assignment").Field("endpoints")
	count := 0
	for i, locality := range c.GetLoadAssignment().GetEndpoints() {
		for j, lbe := range locality.GetLbEndpoints() {
			count++
			ep := p.Index(i).Field("lb_endpoints").Index(j).Field("endpoint")
			sa := lbe.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				v.invalid.Addf(ep.Field("address"), "an endpoint needs a socket_address")
				continue
			}
			sp := ep.Field("address").Field("socket_address")
			if _, ok := sa.GetPortSpecifier().(*corev3.SocketAddress_PortValue); ok && sa.GetPortValue() == 0 {
				v.invalid.Addf(sp.Field("port_value"), "an endpoint needs a port")
			}
			if c.GetType() == clusterv3.Cluster_STATIC {
				if _, err := netip.ParseAddr(sa.GetAddress()); err != nil {
					v.invalid.Addf(sp.Field("address"), "a STATIC cluster needs IP addresses, got %q (use STRICT_DNS or LOGICAL_DNS for host names)", sa.GetAddress())
				}
			}
		}
	}
	if c.GetType() == clusterv3.Cluster_LOGICAL_DNS && count != 1 {
		v.invalid.Addf(p, "a LOGICAL_DNS cluster needs exactly one endpoint, got %d", count)
	}
}

// ipAddress checks that s is an IP literal, as Envoy requires of listener,
// admin and bind addresses.
func (v *validation) ipAddress(s string, p Path) {
	if _, err := netip.ParseAddr(s); err != nil {
		v.invalid.Addf(p, "want an IP address, got %q", s)
	}
}

// cidr checks a CidrRange.
func (v *validation) cidr(c *corev3.CidrRange, p Path) {
	a, err := netip.ParseAddr(c.GetAddressPrefix())
	if err != nil {
		v.invalid.Addf(p.Field("address_prefix"), "want an IP address, got %q", c.GetAddressPrefix())
		return
	}
	if c.GetPrefixLen() != nil && int(c.GetPrefixLen().GetValue()) > a.BitLen() {
		v.invalid.Addf(p.Field("prefix_len"), "prefix_len %d is longer than the address (%d bits)", c.GetPrefixLen().GetValue(), a.BitLen())
	}
}

// unpack decodes a supported typed_config, or returns nil (the allowlist
// walk reports why).
func unpack(a *anypb.Any) proto.Message {
	if a == nil {
		return nil
	}
	m, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{Resolver: supportedTypes{}})
	if err != nil {
		return nil
	}
	return m
}
