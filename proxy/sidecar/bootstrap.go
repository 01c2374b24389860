package sidecar

import (
	"math"
	"strconv"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Cluster names, Istio's.
const (
	PassthroughCluster            = "PassthroughCluster"
	InboundPassthroughClusterIPv4 = "InboundPassthroughClusterIpv4"
	InboundPassthroughClusterIPv6 = "InboundPassthroughClusterIpv6"
	BlackHoleCluster              = "BlackHoleCluster"
)

// Listener names, Istio's; the IPv6 ones exist with DualStack.
const (
	OutboundListener     = "virtualOutbound"
	InboundListener      = "virtualInbound"
	OutboundListenerIPv6 = "virtualOutboundIpv6"
	InboundListenerIPv6  = "virtualInboundIpv6"
)

// InboundSourceIPv4 and InboundSourceIPv6 are the addresses the proxy
// connects to the application from; the redirect rules do not capture
// connections from them again.
const (
	InboundSourceIPv4 = "127.0.0.6"
	InboundSourceIPv6 = "::6"
)

// connectTimeout is Istio's default connect timeout.
const connectTimeout = 10 * time.Second

// Bootstrap builds the sidecar's bootstrap from o (zero fields take their
// defaults). The result is valid for config.Parse and the server.
func Bootstrap(o Options) (*bootstrapv3.Bootstrap, error) {
	o = o.withDefaults()
	if err := o.check(); err != nil {
		return nil, err
	}
	b := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{Id: o.nodeID(), Cluster: o.nodeCluster()},
		Admin: &bootstrapv3.Admin{
			Address: socketAddress("127.0.0.1", o.AdminPort),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{},
	}
	sr := b.StaticResources
	// Outbound first, then inbound, as a request from the application
	// meets them; each IPv6 listener mirrors its IPv4 one.
	sr.Listeners = append(sr.Listeners, outbound(o, ipv4))
	if o.DualStack {
		sr.Listeners = append(sr.Listeners, outbound(o, ipv6))
	}
	sr.Listeners = append(sr.Listeners, inbound(o, ipv4))
	if o.DualStack {
		sr.Listeners = append(sr.Listeners, inbound(o, ipv6))
	}
	sr.Clusters = append(sr.Clusters,
		passthrough(PassthroughCluster, ""),
		passthrough(InboundPassthroughClusterIPv4, InboundSourceIPv4))
	if o.DualStack {
		sr.Clusters = append(sr.Clusters, passthrough(InboundPassthroughClusterIPv6, InboundSourceIPv6))
	}
	sr.Clusters = append(sr.Clusters, blackHole())
	return b, nil
}

// nodeCluster is "<service account>.<namespace>", Istio's service
// cluster, or "outrider" when they are unknown.
func (o Options) nodeCluster() string {
	if o.ServiceAccount == "" || o.PodNamespace == "" {
		return "outrider"
	}
	return o.ServiceAccount + "." + o.PodNamespace
}

// family is the IP family of a listener and its inbound cluster.
type family struct {
	any, suffix, inboundCluster string
}

// statAddr names a listener address in stat prefixes, as Istio does:
// "0.0.0.0_15001", "[::]_15001".
func (f family) statAddr(port uint16) string {
	host := f.any
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + "_" + strconv.Itoa(int(port))
}

var (
	ipv4 = family{any: "0.0.0.0", suffix: "", inboundCluster: InboundPassthroughClusterIPv4}
	ipv6 = family{any: "::", suffix: "Ipv6", inboundCluster: InboundPassthroughClusterIPv6}
)

// passthrough is an ORIGINAL_DST cluster: every connection goes to the
// destination the application dialed, in the protocol it spoke (h2c and
// gRPC stay HTTP/2), from source when it is set.
func passthrough(name, source string) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
		ConnectTimeout:       durationpb.New(connectTimeout),
		CircuitBreakers:      unlimited(),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(&httpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{
					UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
						HttpProtocolOptions:  &corev3.Http1ProtocolOptions{},
						Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
					},
				},
			}),
		},
	}
	if source != "" {
		c.UpstreamBindConfig = &corev3.BindConfig{SourceAddress: &corev3.SocketAddress{
			Address: source, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 0}}}
	}
	return c
}

// unlimited are circuit-breaker thresholds no pod reaches: the sidecar
// must not answer 503 where the application would have been served.
func unlimited() *clusterv3.CircuitBreakers {
	max := wrapperspb.UInt32(math.MaxUint32)
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		MaxConnections: max, MaxPendingRequests: max, MaxRequests: max, MaxRetries: max,
	}}}
}

// blackHole has no endpoint: a connection sent to it is closed.
func blackHole() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 BlackHoleCluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(connectTimeout),
		LoadAssignment:       &endpointv3.ClusterLoadAssignment{ClusterName: BlackHoleCluster},
	}
}

func socketAddress(ip string, port uint16) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)}}}}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic("sidecar: " + err.Error()) // only for messages built here
	}
	return a
}
