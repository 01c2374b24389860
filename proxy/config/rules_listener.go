package config

import (
	"net/netip"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"
)

// listenerRules checks each listener, its filter chains and the network
// filters in them.
func (v *validation) listenerRules(ls []*listenerv3.Listener, p Path, clusters map[string]bool) {
	names := make(map[string]int, len(ls))
	addrs := make(map[netip.AddrPort]int, len(ls))
	for i, l := range ls {
		lp := p.Index(i)
		if j, dup := names[l.GetName()]; dup && l.GetName() != "" {
			v.invalid.Addf(lp.Field("name"), "duplicate listener name %q (also listeners[%d])", l.GetName(), j)
		} else {
			names[l.GetName()] = i
		}
		if sa := l.GetAddress().GetSocketAddress(); sa == nil {
			v.invalid.Addf(lp.Field("address"), "a listener needs a socket_address")
		} else if ip, err := netip.ParseAddr(sa.GetAddress()); err != nil {
			v.invalid.Addf(lp.Field("address").Field("socket_address").Field("address"), "want an IP address, got %q", sa.GetAddress())
		} else if ap := netip.AddrPortFrom(ip, uint16(sa.GetPortValue())); ap.Port() != 0 {
			// Port 0 asks the kernel for a free port: never a clash.
			if j, dup := addrs[ap]; dup {
				v.invalid.Addf(lp.Field("address"), "address %s is already used by listeners[%d]", ap, j)
			} else {
				addrs[ap] = i
			}
		}
		for j, lf := range l.GetListenerFilters() {
			if lf.GetTypedConfig() == nil {
				v.invalid.Addf(lp.Field("listener_filters").Index(j).Field("typed_config"), "typed_config is required")
			}
		}
		if len(l.GetFilterChains()) == 0 && l.GetDefaultFilterChain() == nil {
			v.invalid.Addf(lp.Field("filter_chains"), "a listener needs filter_chains or a default_filter_chain")
		}
		fcp := lp.Field("filter_chains")
		for j, fc := range l.GetFilterChains() {
			v.filterChain(fc, fcp.Index(j), clusters)
			for k := range j {
				if proto.Equal(matchOf(l.GetFilterChains()[k]), matchOf(fc)) {
					v.invalid.Addf(fcp.Index(j).Field("filter_chain_match"), "filter_chains[%d] has the same filter_chain_match: one of them could never be chosen", k)
					break
				}
			}
		}
		if dfc := l.GetDefaultFilterChain(); dfc != nil {
			v.filterChain(dfc, lp.Field("default_filter_chain"), clusters)
		}
	}
}

func matchOf(fc *listenerv3.FilterChain) *listenerv3.FilterChainMatch {
	if m := fc.GetFilterChainMatch(); m != nil {
		return m
	}
	return &listenerv3.FilterChainMatch{}
}

// filterChain checks one chain: its match, and its network filters, of
// which the last (and only) one is tcp_proxy or http_connection_manager.
func (v *validation) filterChain(fc *listenerv3.FilterChain, p Path, clusters map[string]bool) {
	m := fc.GetFilterChainMatch()
	for i, c := range m.GetPrefixRanges() {
		v.cidr(c, p.Field("filter_chain_match").Field("prefix_ranges").Index(i))
	}
	for i, c := range m.GetSourcePrefixRanges() {
		v.cidr(c, p.Field("filter_chain_match").Field("source_prefix_ranges").Index(i))
	}
	fs := fc.GetFilters()
	if len(fs) == 0 {
		v.invalid.Addf(p.Field("filters"), "a filter chain needs a network filter (%s or %s)", extensionNames[typeTCPProxy], extensionNames[typeHCM])
	}
	for i, f := range fs {
		fp := p.Field("filters").Index(i)
		if f.GetTypedConfig() == nil {
			v.invalid.Addf(fp.Field("typed_config"), "typed_config is required")
			continue
		}
		if i < len(fs)-1 {
			v.invalid.Addf(fp, "%s is a terminal filter: it must be the last filter of the chain", extensionName(typeName(f.GetTypedConfig().GetTypeUrl())))
		}
		switch cfg := unpack(f.GetTypedConfig()).(type) {
		case *hcmv3.HttpConnectionManager:
			v.hcm(cfg, fp.Field("typed_config"), clusters)
		case *tcpproxyv3.TcpProxy:
			v.tcpProxy(cfg, fp.Field("typed_config"), clusters)
		}
	}
}

func (v *validation) tcpProxy(t *tcpproxyv3.TcpProxy, p Path, clusters map[string]bool) {
	if c, ok := t.GetClusterSpecifier().(*tcpproxyv3.TcpProxy_Cluster); ok {
		v.clusterRef(c.Cluster, p.Field("cluster"), clusters)
	}
	var sum uint64
	wp := p.Field("weighted_clusters").Field("clusters")
	for i, cw := range t.GetWeightedClusters().GetClusters() {
		v.clusterRef(cw.GetName(), wp.Index(i).Field("name"), clusters)
		sum += uint64(cw.GetWeight())
	}
	if t.GetWeightedClusters() != nil {
		v.weightSum(sum, wp)
	}
	v.accessLogs(t.GetAccessLog(), p.Field("access_log"))
}

func (v *validation) hcm(h *hcmv3.HttpConnectionManager, p Path, clusters map[string]bool) {
	hp := p.Field("http_filters")
	filters := h.GetHttpFilters()
	routerAt := -1
	for i, f := range filters {
		if f.GetTypedConfig() == nil {
			v.invalid.Addf(hp.Index(i).Field("typed_config"), "typed_config is required")
			continue
		}
		if typeName(f.GetTypedConfig().GetTypeUrl()) == typeRouter {
			routerAt = i
			if i != len(filters)-1 {
				v.invalid.Addf(hp.Index(i), "%s must be the last http filter", extensionNames[typeRouter])
			}
		}
	}
	if routerAt < 0 {
		v.invalid.Addf(hp, "the http filters must end with %s", extensionNames[typeRouter])
	}
	seen := map[string]bool{}
	for i, u := range h.GetUpgradeConfigs() {
		t := strings.ToLower(u.GetUpgradeType())
		up := p.Field("upgrade_configs").Index(i).Field("upgrade_type")
		switch {
		case !upgradeTypes[t]:
			v.invalid.Addf(up, "upgrade type %q is not supported (supported: websocket)", u.GetUpgradeType())
		case seen[t]:
			v.invalid.Addf(up, "upgrade type %q is configured twice", u.GetUpgradeType())
		}
		seen[t] = true
	}
	if f := h.GetHttpProtocolOptions().GetHeaderKeyFormat().GetStatefulFormatter(); f != nil && f.GetTypedConfig() == nil {
		v.invalid.Addf(p.Field("http_protocol_options").Field("header_key_format").Field("stateful_formatter").Field("typed_config"), "typed_config is required")
	}
	v.accessLogs(h.GetAccessLog(), p.Field("access_log"))
	if rc := h.GetRouteConfig(); rc != nil {
		v.routeConfig(rc, p.Field("route_config"), clusters)
	}
}

func (v *validation) accessLogs(logs []*accesslogv3.AccessLog, p Path) {
	for i, l := range logs {
		if l.GetTypedConfig() == nil {
			v.invalid.Addf(p.Index(i).Field("typed_config"), "typed_config is required")
		}
	}
}

// clusterRef checks that a cluster named by a route or tcp_proxy exists,
// as Envoy does for static configuration.
func (v *validation) clusterRef(name string, p Path, clusters map[string]bool) {
	if name != "" && !clusters[name] {
		v.invalid.Addf(p, "unknown cluster %q", name)
	}
}

// weightSum checks the total of weighted clusters.
func (v *validation) weightSum(sum uint64, p Path) {
	switch {
	case sum == 0:
		v.invalid.Addf(p, "the sum of the weights must be greater than 0")
	case sum > 1<<32-1:
		v.invalid.Addf(p, "the sum of the weights must fit in 32 bits, got %d", sum)
	}
}
