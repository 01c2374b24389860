package sidecar

import (
	"fmt"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/outrider-mesh/outrider/proxy/deststats/deststatspb"
)

// httpProtocols are what http_inspector reports for HTTP.
var httpProtocols = []string{"http/1.0", "http/1.1", "h2c"}

// outbound is the listener the application's outgoing connections are
// redirected to.
func outbound(o Options, f family) *listenerv3.Listener {
	name := OutboundListener + f.suffix
	statPrefix := "outbound_" + f.statAddr(o.OutboundPort)
	return &listenerv3.Listener{
		Name:             name,
		Address:          socketAddress(f.any, o.OutboundPort),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		ListenerFilters:  detection(o),
		// A client that has said nothing recognisable by then goes on as
		// TCP (see package listener/detect).
		ListenerFiltersTimeout:           durationpb.New(o.DetectionTimeout),
		ContinueOnListenerFiltersTimeout: true,
		FilterChains: []*listenerv3.FilterChain{
			blackHoleChain(name, o.OutboundPort),
			{
				Name:             name + "-http",
				FilterChainMatch: &listenerv3.FilterChainMatch{ApplicationProtocols: httpProtocols},
				Filters: []*listenerv3.Filter{connectionManager(o, statPrefix, "outbound", &routev3.RouteConfiguration{
					Name: "outbound",
					VirtualHosts: []*routev3.VirtualHost{{
						Name:    "allow_any",
						Domains: []string{"*"},
						Routes: []*routev3.Route{{
							Name:  "allow_any",
							Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
							Action: &routev3.Route_Route{Route: &routev3.RouteAction{
								ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: PassthroughCluster},
								Timeout:          durationpb.New(0),
								RetryPolicy:      defaultRetryPolicy(),
							}},
						}},
					}},
				})},
			},
		},
		DefaultFilterChain: tcpChain(o, name+"-tcp", PassthroughCluster),
	}
}

// inbound is the listener connections to the pod are redirected to. It
// forwards to the original destination from the inbound source address.
func inbound(o Options, f family) *listenerv3.Listener {
	name := InboundListener + f.suffix
	statPrefix := "inbound_" + f.statAddr(o.InboundPort)
	routes := &routev3.RouteConfiguration{
		Name: "inbound",
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    "inbound",
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:  "default",
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: f.inboundCluster},
					Timeout:          durationpb.New(0),
				}},
			}},
		}},
	}
	httpChain := func(chainName string, port uint16) *listenerv3.FilterChain {
		m := &listenerv3.FilterChainMatch{ApplicationProtocols: httpProtocols}
		if port != 0 {
			m.DestinationPort = wrapperspb.UInt32(uint32(port))
		}
		return &listenerv3.FilterChain{
			Name:             chainName,
			FilterChainMatch: m,
			Filters:          []*listenerv3.Filter{connectionManager(o, statPrefix, "inbound", routes)},
		}
	}
	chains := []*listenerv3.FilterChain{blackHoleChain(name, o.InboundPort)}
	// An HTTP-only port has its own pair of chains: Envoy's matching picks
	// a port's chains before any port-less one, so a connection to it
	// that is not HTTP (or whose detection timed out) meets the refusing
	// chain and never the TCP passthrough.
	for _, p := range o.HTTPOnlyInboundPorts {
		chains = append(chains, httpChain(fmt.Sprintf("%s-http-only-%d", name, p), p))
		refuse := tcpChain(o, fmt.Sprintf("%s-http-only-%d-refuse", name, p), BlackHoleCluster)
		refuse.FilterChainMatch = &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(uint32(p))}
		chains = append(chains, refuse)
	}
	chains = append(chains, httpChain(name+"-http", 0))
	return &listenerv3.Listener{
		Name:                             name,
		Address:                          socketAddress(f.any, o.InboundPort),
		TrafficDirection:                 corev3.TrafficDirection_INBOUND,
		ListenerFilters:                  detection(o),
		ListenerFiltersTimeout:           durationpb.New(o.DetectionTimeout),
		ContinueOnListenerFiltersTimeout: true,
		FilterChains:                     chains,
		DefaultFilterChain:               tcpChain(o, name+"-tcp", f.inboundCluster),
	}
}

// detection are the listener filters: original_dst restores the
// destination; http_inspector is off on the opaque ports.
func detection(o Options) []*listenerv3.ListenerFilter {
	inspector := &listenerv3.ListenerFilter{
		Name:       "envoy.filters.listener.http_inspector",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&httpinspectorv3.HttpInspector{})},
	}
	if rules := portRules(o.OpaquePorts); len(rules) == 1 {
		inspector.FilterDisabled = rules[0]
	} else if len(rules) > 1 {
		inspector.FilterDisabled = &listenerv3.ListenerFilterChainMatchPredicate{
			Rule: &listenerv3.ListenerFilterChainMatchPredicate_OrMatch{
				OrMatch: &listenerv3.ListenerFilterChainMatchPredicate_MatchSet{Rules: rules}}}
	}
	return []*listenerv3.ListenerFilter{{
		Name:       "envoy.filters.listener.original_dst",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&originaldstv3.OriginalDst{})},
	}, inspector}
}

// portRules turns sorted ports into destination_port_range rules, one per
// run of consecutive ports.
func portRules(ports []uint16) []*listenerv3.ListenerFilterChainMatchPredicate {
	var out []*listenerv3.ListenerFilterChainMatchPredicate
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1] == ports[j]+1 {
			j++
		}
		out = append(out, &listenerv3.ListenerFilterChainMatchPredicate{
			Rule: &listenerv3.ListenerFilterChainMatchPredicate_DestinationPortRange{
				DestinationPortRange: &typev3.Int32Range{Start: int32(ports[i]), End: int32(ports[j]) + 1}}})
		i = j + 1
	}
	return out
}

// blackHoleChain catches connections made to the capture port itself,
// which would otherwise be forwarded to the proxy again, forever.
func blackHoleChain(listener string, port uint16) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{
		Name:             listener + "-blackhole",
		FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(uint32(port))},
		Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.tcp_proxy",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&tcpproxyv3.TcpProxy{
				StatPrefix:       BlackHoleCluster,
				ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: BlackHoleCluster},
			})},
		}},
	}
}

// tcpChain passes the connection through to cluster.
func tcpChain(o Options, name, cluster string) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{
		Name: name,
		Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.tcp_proxy",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&tcpproxyv3.TcpProxy{
				StatPrefix:       cluster,
				ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
				AccessLog:        accessLogs(o),
			})},
		}},
	}
}

// connectionManager handles detected HTTP: per-destination stats, then
// the router. It changes as little as a proxy can: the application's
// Server header passes through, websockets and HTTP/1.0 are allowed, and
// no stream is cut for being idle (long polls, gRPC streams).
func connectionManager(o Options, statPrefix, direction string, routes *routev3.RouteConfiguration) *listenerv3.Filter {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:                 statPrefix,
		CodecType:                  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier:             &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: routes},
		ServerHeaderTransformation: hcmv3.HttpConnectionManager_PASS_THROUGH,
		StreamIdleTimeout:          durationpb.New(0),
		HttpProtocolOptions:        &corev3.Http1ProtocolOptions{AcceptHttp_10: true},
		UpgradeConfigs:             []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		AccessLog:                  accessLogs(o),
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       deststatspb.ExtensionName,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(deststatspb.New(direction, o.MaxDestinations))},
		}, {
			Name:       "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
		}},
	}
	return &listenerv3.Filter{
		Name:       "envoy.filters.network.http_connection_manager",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
	}
}

// defaultRetryPolicy is Istio's: two retries of failures that happened
// before the application could act on the request (connect failures,
// refused streams, gRPC UNAVAILABLE and CANCELLED, HTTP 503), on another
// host when there is one.
func defaultRetryPolicy() *routev3.RetryPolicy {
	return &routev3.RetryPolicy{
		RetryOn:              "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
		NumRetries:           wrapperspb.UInt32(2),
		RetriableStatusCodes: []uint32{503},
		RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: mustAny(&previoushostsv3.PreviousHostsPredicate{})},
		}},
		HostSelectionRetryMaxAttempts: 5,
	}
}

// accessLogs are the access_log entries of every HCM and tcp_proxy.
func accessLogs(o Options) []*accesslogv3.AccessLog {
	switch o.AccessLog {
	case "off":
		return nil
	case "", "/dev/stdout":
		return []*accesslogv3.AccessLog{{
			Name:       "envoy.access_loggers.stdout",
			ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&streamv3.StdoutAccessLog{})},
		}}
	}
	return []*accesslogv3.AccessLog{{
		Name:       "envoy.access_loggers.file",
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&filev3.FileAccessLog{Path: o.AccessLog})},
	}}
}
