package listener

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/listener/chain"
	"github.com/outrider-mesh/outrider/proxy/listener/detect"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
)

// defaultFiltersTimeout is Envoy's listener_filters_timeout default.
const defaultFiltersTimeout = 15 * time.Second

// listenerFilter is one translated listener filter.
type listenerFilter uint8

const (
	originalDst listenerFilter = iota
	tlsInspector
	httpInspector
)

// config is one listener, translated: immutable once built.
type listenerConfig struct {
	pb   *listenerv3.Listener
	name string
	// addr is the configured address; bind tells whether a socket is
	// opened for it (bind_to_port); v4compat lets "::" accept IPv4 too.
	addr     netip.AddrPort
	bind     bool
	v4compat bool

	useOriginalDst    bool
	inbound           bool // traffic_direction INBOUND: drained by StartDrain(true)
	direction         corev3.TrafficDirection
	modifyOnly        bool // drain_type MODIFY_ONLY: not drained by StartDrain
	filters           []listenerFilter
	disabled          []detect.Ports // per filter: filter_disabled destination ports
	transparent       bool           // has original_dst: detection may learn server-first destinations
	filtersTimeout    time.Duration
	continueOnTimeout bool

	table        *chain.Table
	chains       []*filterChain
	defaultChain *filterChain
	statName     string // listener.<statName>.*
}

// filterChain is one translated filter chain.
type filterChain struct {
	name   string
	filter network.Filter
	tls    *chainTLS // transport_socket; nil: the connection is passed on as it is
}

var supportedListenerFields = []string{
	"name", "address", "stat_prefix", "filter_chains", "use_original_dst",
	"default_filter_chain", "metadata", "drain_type", "listener_filters",
	"listener_filters_timeout", "continue_on_listener_filters_timeout",
	"traffic_direction", "bind_to_port",
	// Performance hints with no visible behaviour here: Go's runtime
	// accepts on all cores from one socket.
	"enable_reuse_port", "reuse_port", "max_connections_to_accept_per_socket_event",
	"ignore_global_conn_limit", "bypass_overload_manager",
}

// translate builds a listener's runtime config. Every problem is recorded
// in errs with its path.
func translate(pb *listenerv3.Listener, env *Env, p config.Path, errs *config.Errors) *listenerConfig {
	network.RejectUnhandled(errs, pb, p, supportedListenerFields...)
	cfg := &listenerConfig{pb: pb, name: pb.GetName(), bind: true, direction: pb.GetTrafficDirection()}
	if cfg.name == "" {
		errs.Addf(p.Field("name"), "listener: a name is required")
	}
	if b := pb.GetBindToPort(); b != nil {
		cfg.bind = b.GetValue()
	}
	cfg.addr, cfg.v4compat = translateAddress(pb.GetAddress(), p.Field("address"), errs)
	cfg.useOriginalDst = pb.GetUseOriginalDst().GetValue()
	cfg.inbound = pb.GetTrafficDirection() == corev3.TrafficDirection_INBOUND
	cfg.modifyOnly = pb.GetDrainType() == listenerv3.Listener_MODIFY_ONLY
	cfg.statName = pb.GetStatPrefix()
	if cfg.statName == "" {
		cfg.statName = statAddress(cfg.addr)
	}

	cfg.filtersTimeout = defaultFiltersTimeout
	if d := pb.GetListenerFiltersTimeout(); d != nil {
		cfg.filtersTimeout = d.AsDuration()
	}
	cfg.continueOnTimeout = pb.GetContinueOnListenerFiltersTimeout()
	for i, lf := range pb.GetListenerFilters() {
		lp := p.Field("listener_filters").Index(i)
		if f, ok := translateListenerFilter(lf, lp, errs); ok {
			cfg.filters = append(cfg.filters, f)
			cfg.disabled = append(cfg.disabled, detect.TranslateDisabled(lf.GetFilterDisabled(), lp.Field("filter_disabled"), errs))
			cfg.transparent = cfg.transparent || f == originalDst
		}
	}

	var matches []chain.Match
	for i, fc := range pb.GetFilterChains() {
		fp := p.Field("filter_chains").Index(i)
		m := translateMatch(fc.GetFilterChainMatch(), fp.Field("filter_chain_match"), errs)
		for j, prev := range matches {
			if chain.Equal(prev, m) {
				errs.Addf(fp.Field("filter_chain_match"), "listener: same match as filter_chains[%d]", j)
			}
		}
		matches = append(matches, m)
		cfg.chains = append(cfg.chains, translateChain(fc, env, fp, errs))
	}
	cfg.table = chain.NewTable(matches)
	if dfc := pb.GetDefaultFilterChain(); dfc != nil {
		dp := p.Field("default_filter_chain")
		if dfc.GetFilterChainMatch() != nil {
			errs.Addf(dp.Field("filter_chain_match"), "listener: not allowed on the default filter chain")
		}
		cfg.defaultChain = translateChain(dfc, env, dp, errs)
	}
	if len(cfg.chains) == 0 && cfg.defaultChain == nil {
		errs.Addf(p.Field("filter_chains"), "listener: at least one filter chain or a default_filter_chain is required")
	}
	return cfg
}

// statAddress names a listener in stats as Envoy does ("0.0.0.0:15001"
// becomes "0.0.0.0_15001" in stats.ListenerScope).
func statAddress(a netip.AddrPort) string {
	return a.String()
}

func translateAddress(a *corev3.Address, p config.Path, errs *config.Errors) (netip.AddrPort, bool) {
	if a == nil {
		errs.Addf(p, "listener: an address is required")
		return netip.AddrPort{}, false
	}
	network.RejectUnhandled(errs, a, p, "socket_address")
	sa := a.GetSocketAddress()
	if sa == nil {
		return netip.AddrPort{}, false
	}
	sp := p.Field("socket_address")
	network.RejectUnhandled(errs, sa, sp, "protocol", "address", "port_value", "ipv4_compat")
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		errs.Addf(sp.Field("protocol"), "listener: only TCP listeners are supported")
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		errs.Addf(sp.Field("address"), "listener: %q is not an IP address", sa.GetAddress())
		return netip.AddrPort{}, false
	}
	if sa.GetPortValue() > 65535 {
		errs.Addf(sp.Field("port_value"), "listener: port %d out of range", sa.GetPortValue())
	}
	return netip.AddrPortFrom(ip, uint16(sa.GetPortValue())), sa.GetIpv4Compat()
}

// Listener filter type URLs.
var (
	originalDstURL   = typeURL(&originaldstv3.OriginalDst{})
	tlsInspectorURL  = typeURL(&tlsinspectorv3.TlsInspector{})
	httpInspectorURL = typeURL(&httpinspectorv3.HttpInspector{})
)

func typeURL(m proto.Message) string {
	return "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())
}

func translateListenerFilter(lf *listenerv3.ListenerFilter, p config.Path, errs *config.Errors) (listenerFilter, bool) {
	network.RejectUnhandled(errs, lf, p, "name", "typed_config", "filter_disabled")
	tc := lf.GetTypedConfig()
	if tc == nil {
		errs.Addf(p.Field("typed_config"), "listener: typed_config is required")
		return 0, false
	}
	tp := p.Field("typed_config")
	var (
		msg  proto.Message
		kind listenerFilter
	)
	switch tc.GetTypeUrl() {
	case originalDstURL:
		msg, kind = &originaldstv3.OriginalDst{}, originalDst
	case tlsInspectorURL:
		msg, kind = &tlsinspectorv3.TlsInspector{}, tlsInspector
	case httpInspectorURL:
		msg, kind = &httpinspectorv3.HttpInspector{}, httpInspector
	default:
		errs.Addf(tp, "listener: listener filter %s (%s) is not supported", lf.GetName(), tc.GetTypeUrl())
		return 0, false
	}
	if err := anypb.UnmarshalTo(tc, msg, proto.UnmarshalOptions{}); err != nil {
		errs.Addf(tp, "listener: %w", err)
		return 0, false
	}
	network.RejectUnhandled(errs, msg, tp)
	return kind, true
}

func translateMatch(m *listenerv3.FilterChainMatch, p config.Path, errs *config.Errors) chain.Match {
	var out chain.Match
	if m == nil {
		return out
	}
	network.RejectUnhandled(errs, m, p, "destination_port", "prefix_ranges",
		"direct_source_prefix_ranges", "source_type", "source_prefix_ranges", "source_ports",
		"server_names", "transport_protocol", "application_protocols")
	if dp := m.GetDestinationPort(); dp != nil {
		if dp.GetValue() == 0 || dp.GetValue() > 65535 {
			errs.Addf(p.Field("destination_port"), "listener: port %d out of range", dp.GetValue())
		}
		out.DestinationPort = dp.GetValue()
	}
	out.PrefixRanges = translateCIDRs(m.GetPrefixRanges(), p.Field("prefix_ranges"), errs)
	out.DirectSourcePrefixRanges = translateCIDRs(m.GetDirectSourcePrefixRanges(), p.Field("direct_source_prefix_ranges"), errs)
	out.SourcePrefixRanges = translateCIDRs(m.GetSourcePrefixRanges(), p.Field("source_prefix_ranges"), errs)
	switch m.GetSourceType() {
	case listenerv3.FilterChainMatch_SAME_IP_OR_LOOPBACK:
		out.SourceType = chain.LocalSource
	case listenerv3.FilterChainMatch_EXTERNAL:
		out.SourceType = chain.ExternalSource
	}
	for i, port := range m.GetSourcePorts() {
		if port == 0 || port > 65535 {
			errs.Addf(p.Field("source_ports").Index(i), "listener: port %d out of range", port)
		}
	}
	out.SourcePorts = m.GetSourcePorts()
	for i, n := range m.GetServerNames() {
		if n == "" || strings.Contains(n[min(1, len(n)):], "*") || (strings.HasPrefix(n, "*") && !strings.HasPrefix(n, "*.")) {
			errs.Addf(p.Field("server_names").Index(i), "listener: %q is not a server name or a *.suffix wildcard", n)
		}
	}
	out.ServerNames = m.GetServerNames()
	out.TransportProtocol = m.GetTransportProtocol()
	out.ApplicationProtocols = m.GetApplicationProtocols()
	return out
}

func translateCIDRs(rs []*corev3.CidrRange, p config.Path, errs *config.Errors) []netip.Prefix {
	var out []netip.Prefix
	for i, r := range rs {
		ip, err := netip.ParseAddr(r.GetAddressPrefix())
		if err != nil {
			errs.Addf(p.Index(i).Field("address_prefix"), "listener: %q is not an IP address", r.GetAddressPrefix())
			continue
		}
		bits := ip.BitLen()
		if pl := r.GetPrefixLen(); pl != nil {
			bits = int(pl.GetValue())
		}
		pfx, err := ip.Unmap().Prefix(bits)
		if err != nil {
			errs.Addf(p.Index(i).Field("prefix_len"), "listener: %w", err)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

func translateChain(fc *listenerv3.FilterChain, env *Env, p config.Path, errs *config.Errors) *filterChain {
	network.RejectUnhandled(errs, fc, p, "filter_chain_match", "filters", "name", "metadata",
		"transport_socket", "transport_socket_connect_timeout")
	out := &filterChain{name: fc.GetName(), tls: translateChainTLS(fc, env, p, errs)}
	filters := fc.GetFilters()
	if len(filters) != 1 {
		errs.Addf(p.Field("filters"), "listener: exactly one network filter (tcp_proxy or http_connection_manager) is supported, got %d", len(filters))
	}
	if len(filters) > 0 {
		fp := p.Field("filters").Index(len(filters) - 1)
		f, err := translateNetworkFilter(filters[len(filters)-1], env, fp)
		if err != nil {
			errs.Add(fp, err)
		}
		out.filter = f
	}
	return out
}

// errNotSupported is wrapped into errors about filters we do not have.
var errNotSupported = fmt.Errorf("not supported")
