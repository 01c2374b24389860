package cluster

import (
	"math"
	"net/netip"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	preservecasev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/header_formatters/preserve_case/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/outrider-mesh/outrider/proxy/balancer"
	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/upstream"
)

// HTTPProtocolOptionsKey is the typed_extension_protocol_options key of
// envoy.extensions.upstreams.http.v3.HttpProtocolOptions.
const HTTPProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// Envoy's defaults.
const (
	defaultConnectTimeout  = 5 * time.Second
	defaultDNSRefreshRate  = 5 * time.Second
	defaultCleanupInterval = 5 * time.Second
	defaultIdleTimeout     = time.Hour
	defaultMaxConnections  = 1024
	defaultMaxPending      = 1024
	defaultMaxRequests     = 1024
	defaultMaxRetries      = 3
)

// settings is a cluster's translated, immutable configuration: what is
// its own (name, endpoints) and a policy that many clusters share.
type settings struct {
	name      string
	statName  string     // alt_stat_name, or name
	endpoints []endpoint // static addresses, or DNS names for the DNS types
	*policy
}

// policy is the part of a cluster's configuration that does not name it.
// In a mesh most clusters are configured alike; Update gives clusters
// with equal policies one shared copy (see sharePolicies).
type policy struct {
	kind            clusterv3.Cluster_DiscoveryType
	lb              lbConfig
	connectTimeout  time.Duration
	dnsRefresh      time.Duration
	dnsFamily       clusterv3.Cluster_DnsLookupFamily
	cleanupInterval time.Duration
	source          netip.AddrPort
	thresholds      thresholds
	http            upstream.Options
	tls             upstream.Handshaker // transport_socket; nil: plaintext (see tls.go)
}

// lbConfig is the comparable part of a balancer.Config.
type lbConfig struct {
	Policy      balancer.Policy
	ChoiceCount int
}

type endpoint struct {
	host     string // IP literal for STATIC, name for the DNS types
	port     uint16
	weight   uint32
	hostname string // endpoint.hostname
	health   corev3.HealthStatus
}

type thresholds struct {
	maxConnections, maxPending, maxRequests, maxRetries uint32
	trackRemaining                                      bool
}

// translate checks pb and builds its settings; every problem is recorded
// in errs with its path.
func translate(pb *clusterv3.Cluster, p config.Path, errs *config.Errors) *settings {
	rejectUnsupported(errs, pb, p, "name", "alt_stat_name", "type", "lb_policy", "load_assignment",
		"connect_timeout", "dns_refresh_rate", "dns_lookup_family", "cleanup_interval",
		"upstream_bind_config", "circuit_breakers", "typed_extension_protocol_options",
		"least_request_lb_config", "metadata", "transport_socket")
	if md := pb.GetMetadata(); md != nil {
		// Descriptive only: nothing here reads filter_metadata (no subset
		// load balancing, no %CLUSTER_METADATA%).
		rejectUnsupported(errs, md, p.Field("metadata"), "filter_metadata")
	}
	// The strings and endpoints here still point into the proto: the
	// cluster made of these settings copies what it keeps (newCluster).
	// Copied here, among the translation's garbage, they would pin its
	// memory spans for as long as the cluster lives.
	name := pb.GetName()
	s := &settings{name: name, statName: name, policy: &policy{
		kind:            pb.GetType(),
		connectTimeout:  durationOr(pb.GetConnectTimeout(), defaultConnectTimeout),
		dnsRefresh:      durationOr(pb.GetDnsRefreshRate(), defaultDNSRefreshRate),
		dnsFamily:       pb.GetDnsLookupFamily(),
		cleanupInterval: durationOr(pb.GetCleanupInterval(), defaultCleanupInterval),
		http:            upstream.Options{Protocol: upstream.HTTP1, IdleTimeout: defaultIdleTimeout},
	}}
	if s.name == "" {
		errs.Addf(p.Field("name"), "cluster: name is required")
	}
	if pb.GetAltStatName() != "" {
		s.statName = pb.GetAltStatName()
	}
	if s.dnsRefresh <= 0 {
		errs.Addf(p.Field("dns_refresh_rate"), "cluster: dns_refresh_rate must be positive")
	}
	if s.cleanupInterval <= 0 {
		errs.Addf(p.Field("cleanup_interval"), "cluster: cleanup_interval must be positive")
	}
	switch s.kind {
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS, clusterv3.Cluster_ORIGINAL_DST:
	default:
		errs.Addf(p.Field("type"), "cluster: type %s is not supported", s.kind)
	}
	translateLB(pb, s, p, errs)
	translateEndpoints(pb, s, p, errs)
	if b := pb.GetUpstreamBindConfig(); b != nil {
		bp := p.Field("upstream_bind_config")
		rejectUnsupported(errs, b, bp, "source_address")
		if sa := b.GetSourceAddress(); sa != nil {
			rejectUnsupported(errs, sa, bp.Field("source_address"), "address", "port_value", "protocol")
			ip, err := netip.ParseAddr(sa.GetAddress())
			if err != nil {
				errs.Addf(bp.Field("source_address").Field("address"), "cluster: %q is not an IP address", sa.GetAddress())
			}
			s.source = netip.AddrPortFrom(ip, uint16(sa.GetPortValue()))
		}
	}
	s.thresholds = translateThresholds(pb.GetCircuitBreakers(), p.Field("circuit_breakers"), errs)
	for key, anyOpts := range pb.GetTypedExtensionProtocolOptions() {
		kp := p.Field("typed_extension_protocol_options").Key(key)
		if key != HTTPProtocolOptionsKey {
			errs.Addf(kp, "cluster: protocol options %q are not supported", key)
			continue
		}
		opts := &httpv3.HttpProtocolOptions{}
		if err := anyOpts.UnmarshalTo(opts); err != nil {
			errs.Addf(kp, "cluster: %w", err)
			continue
		}
		translateHTTPOptions(opts, &s.http, kp, errs)
	}
	return s
}

func translateLB(pb *clusterv3.Cluster, s *settings, p config.Path, errs *config.Errors) {
	switch pb.GetLbPolicy() {
	case clusterv3.Cluster_ROUND_ROBIN:
		s.lb.Policy = balancer.RoundRobin
	case clusterv3.Cluster_LEAST_REQUEST:
		s.lb.Policy = balancer.LeastRequest
	case clusterv3.Cluster_RANDOM:
		s.lb.Policy = balancer.Random
	case clusterv3.Cluster_CLUSTER_PROVIDED:
		if s.kind != clusterv3.Cluster_ORIGINAL_DST {
			errs.Addf(p.Field("lb_policy"), "cluster: CLUSTER_PROVIDED is only valid for ORIGINAL_DST clusters")
		}
	default:
		errs.Addf(p.Field("lb_policy"), "cluster: lb_policy %s is not supported", pb.GetLbPolicy())
	}
	if s.kind == clusterv3.Cluster_ORIGINAL_DST && pb.GetLbPolicy() != clusterv3.Cluster_CLUSTER_PROVIDED {
		errs.Addf(p.Field("lb_policy"), "cluster: ORIGINAL_DST clusters need lb_policy CLUSTER_PROVIDED")
	}
	if lr := pb.GetLeastRequestLbConfig(); lr != nil {
		lp := p.Field("least_request_lb_config")
		rejectUnsupported(errs, lr, lp, "choice_count")
		if pb.GetLbPolicy() != clusterv3.Cluster_LEAST_REQUEST {
			errs.Addf(lp, "cluster: least_request_lb_config needs lb_policy LEAST_REQUEST")
		}
		if c := lr.GetChoiceCount(); c != nil {
			if c.GetValue() < 2 {
				errs.Addf(lp.Field("choice_count"), "cluster: choice_count must be at least 2")
			}
			s.lb.ChoiceCount = int(c.GetValue())
		}
	}
}

func translateEndpoints(pb *clusterv3.Cluster, s *settings, p config.Path, errs *config.Errors) {
	la := pb.GetLoadAssignment()
	lp := p.Field("load_assignment")
	if la == nil {
		if s.kind != clusterv3.Cluster_ORIGINAL_DST {
			errs.Addf(lp, "cluster: load_assignment is required for %s clusters", s.kind)
		}
		return
	}
	if s.kind == clusterv3.Cluster_ORIGINAL_DST {
		errs.Addf(lp, "cluster: ORIGINAL_DST clusters take no load_assignment")
		return
	}
	rejectUnsupported(errs, la, lp, "cluster_name", "endpoints")
	for i, lle := range la.GetEndpoints() {
		ep := lp.Field("endpoints").Index(i)
		rejectUnsupported(errs, lle, ep, "locality", "lb_endpoints", "metadata")
		for j, lbe := range lle.GetLbEndpoints() {
			if e, ok := translateLbEndpoint(lbe, s.kind, ep.Field("lb_endpoints").Index(j), errs); ok {
				s.endpoints = append(s.endpoints, e)
			}
		}
	}
	if s.kind == clusterv3.Cluster_LOGICAL_DNS && len(s.endpoints) != 1 {
		errs.Addf(lp, "cluster: LOGICAL_DNS clusters need exactly one endpoint, have %d", len(s.endpoints))
	}
}

// translateLbEndpoint returns the endpoint, or false when it is invalid.
func translateLbEndpoint(lbe *endpointv3.LbEndpoint, kind clusterv3.Cluster_DiscoveryType, p config.Path, errs *config.Errors) (endpoint, bool) {
	rejectUnsupported(errs, lbe, p, "endpoint", "load_balancing_weight", "health_status", "metadata")
	e := endpoint{weight: 1}
	if w := lbe.GetLoadBalancingWeight(); w != nil {
		if w.GetValue() == 0 {
			errs.Addf(p.Field("load_balancing_weight"), "cluster: load_balancing_weight must be at least 1")
		}
		e.weight = w.GetValue()
	}
	ep := lbe.GetEndpoint()
	if ep == nil {
		errs.Addf(p.Field("endpoint"), "cluster: endpoint is required")
		return e, false
	}
	epp := p.Field("endpoint")
	rejectUnsupported(errs, ep, epp, "address", "hostname")
	sa := ep.GetAddress().GetSocketAddress()
	if sa == nil {
		errs.Addf(epp.Field("address"), "cluster: only socket_address endpoints are supported")
		return e, false
	}
	sp := epp.Field("address").Field("socket_address")
	rejectUnsupported(errs, sa, sp, "address", "port_value", "protocol")
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		errs.Addf(sp.Field("protocol"), "cluster: only TCP endpoints are supported")
	}
	if sa.GetPortValue() == 0 || sa.GetPortValue() > math.MaxUint16 {
		errs.Addf(sp.Field("port_value"), "cluster: port_value %d is out of range", sa.GetPortValue())
	}
	e.host, e.port = sa.GetAddress(), uint16(sa.GetPortValue())
	if kind == clusterv3.Cluster_STATIC {
		if _, err := netip.ParseAddr(e.host); err != nil {
			errs.Addf(sp.Field("address"), "cluster: STATIC endpoint %q is not an IP address", e.host)
			return e, false
		}
	}
	e.hostname = ep.GetHostname()
	e.health = lbe.GetHealthStatus()
	if e.health == corev3.HealthStatus_DEGRADED {
		errs.Addf(p.Field("health_status"), "cluster: health_status DEGRADED is not supported")
	}
	return e, true
}

func translateThresholds(cb *clusterv3.CircuitBreakers, p config.Path, errs *config.Errors) thresholds {
	t := thresholds{maxConnections: defaultMaxConnections, maxPending: defaultMaxPending,
		maxRequests: defaultMaxRequests, maxRetries: defaultMaxRetries}
	if cb == nil {
		return t
	}
	rejectUnsupported(errs, cb, p, "thresholds")
	for i, th := range cb.GetThresholds() {
		tp := p.Field("thresholds").Index(i)
		if th.GetPriority() != corev3.RoutingPriority_DEFAULT {
			errs.Addf(tp.Field("priority"), "cluster: only DEFAULT priority thresholds are supported")
			continue
		}
		rejectUnsupported(errs, th, tp, "priority", "max_connections", "max_pending_requests",
			"max_requests", "max_retries", "track_remaining")
		if v := th.GetMaxConnections(); v != nil {
			t.maxConnections = v.GetValue()
		}
		if v := th.GetMaxPendingRequests(); v != nil {
			t.maxPending = v.GetValue()
		}
		if v := th.GetMaxRequests(); v != nil {
			t.maxRequests = v.GetValue()
		}
		if v := th.GetMaxRetries(); v != nil {
			t.maxRetries = v.GetValue()
		}
		t.trackRemaining = th.GetTrackRemaining()
	}
	return t
}

func translateHTTPOptions(o *httpv3.HttpProtocolOptions, out *upstream.Options, p config.Path, errs *config.Errors) {
	rejectUnsupported(errs, o, p, "common_http_protocol_options", "explicit_http_config", "use_downstream_protocol_config", "auto_config")
	if c := o.GetCommonHttpProtocolOptions(); c != nil {
		cp := p.Field("common_http_protocol_options")
		rejectUnsupported(errs, c, cp, "idle_timeout", "max_requests_per_connection")
		if c.GetIdleTimeout() != nil {
			out.IdleTimeout = c.GetIdleTimeout().AsDuration() // zero disables, as in Envoy
		}
		out.MaxRequestsPerConn = c.GetMaxRequestsPerConnection().GetValue()
	}
	switch {
	case o.GetExplicitHttpConfig() != nil:
		ep := p.Field("explicit_http_config")
		ex := o.GetExplicitHttpConfig()
		switch {
		case ex.GetHttpProtocolOptions() != nil:
			translateHTTP1Options(ex.GetHttpProtocolOptions(), out, ep.Field("http_protocol_options"), errs)
			out.Protocol = upstream.HTTP1
		case ex.GetHttp2ProtocolOptions() != nil:
			rejectUnsupported(errs, ex.GetHttp2ProtocolOptions(), ep.Field("http2_protocol_options"))
			out.Protocol = upstream.HTTP2
		default:
			errs.Addf(ep, "cluster: only http_protocol_options and http2_protocol_options are supported")
		}
	case o.GetUseDownstreamProtocolConfig() != nil:
		dp := p.Field("use_downstream_protocol_config")
		d := o.GetUseDownstreamProtocolConfig()
		rejectUnsupported(errs, d, dp, "http_protocol_options", "http2_protocol_options")
		if d.GetHttpProtocolOptions() != nil {
			translateHTTP1Options(d.GetHttpProtocolOptions(), out, dp.Field("http_protocol_options"), errs)
		}
		if d.GetHttp2ProtocolOptions() != nil {
			rejectUnsupported(errs, d.GetHttp2ProtocolOptions(), dp.Field("http2_protocol_options"))
		}
		out.UseDownstream = true
	case o.GetAutoConfig() != nil:
		translateAutoConfig(o.GetAutoConfig(), out, p.Field("auto_config"), errs)
	default:
		errs.Addf(p, "cluster: HttpProtocolOptions needs explicit_http_config, use_downstream_protocol_config or auto_config")
	}
}

// preserveCaseURL is the typed_config type of the preserve_case header
// formatter.
var preserveCaseURL = "type.googleapis.com/" + string((&preservecasev3.PreserveCaseFormatterConfig{}).ProtoReflect().Descriptor().FullName())

// translateHTTP1Options reads the upstream HTTP/1.1 options. The only one
// is header_key_format with the preserve_case formatter: request header
// names go out in the case the client used (when the listener records it)
// and the case of response header names is recorded for the client.
func translateHTTP1Options(o *corev3.Http1ProtocolOptions, out *upstream.Options, p config.Path, errs *config.Errors) {
	rejectUnsupported(errs, o, p, "header_key_format")
	hk := o.GetHeaderKeyFormat()
	if hk == nil {
		return
	}
	hp := p.Field("header_key_format")
	rejectUnsupported(errs, hk, hp, "stateful_formatter")
	sf := hk.GetStatefulFormatter()
	if sf == nil {
		return
	}
	sp := hp.Field("stateful_formatter")
	rejectUnsupported(errs, sf, sp, "name", "typed_config")
	tc := sf.GetTypedConfig()
	if tc.GetTypeUrl() != preserveCaseURL {
		errs.Addf(sp.Field("typed_config"), "cluster: only the preserve_case formatter is supported")
		return
	}
	pc := &preservecasev3.PreserveCaseFormatterConfig{}
	if err := tc.UnmarshalTo(pc); err != nil {
		errs.Addf(sp.Field("typed_config"), "cluster: %w", err)
		return
	}
	rejectUnsupported(errs, pc, sp.Field("typed_config"))
	out.PreserveCase = true
}

func durationOr(d *durationpb.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.AsDuration()
}

// own copies s out of the proto it came from (see translate).
func own(s string) string { return strings.Clone(s) }

// owned returns a copy of s that keeps nothing of the proto it was
// translated from: its strings and endpoints are copied, those of a
// STATIC cluster only until its hosts are made (start).
func (s *settings) owned() settings {
	o := *s
	o.name = own(s.name)
	o.statName = o.name
	if s.statName != s.name {
		o.statName = own(s.statName)
	}
	if o.kind != clusterv3.Cluster_STATIC {
		o.endpoints = make([]endpoint, len(s.endpoints))
		for i, e := range s.endpoints {
			e.host, e.hostname = own(e.host), own(e.hostname)
			o.endpoints[i] = e
		}
	}
	return o
}
