// Package sidecar builds the proxy's default sidecar configuration: an
// Envoy v3 Bootstrap that captures a pod's traffic the way Istio's sidecar
// does, from a few options and the pod's environment, so that
// `outrider-proxy --sidecar` needs no config file and its config still
// shows, whole, in /config_dump.
//
// The bootstrap, step by step (Bootstrap assembles it in this order):
//
//   - outbound, listener virtualOutbound on :15001 (traffic_direction
//     OUTBOUND): original_dst restores the destination the application
//     dialed; http_inspector looks for HTTP/1.x or the h2c preface, except
//     on server-first ports; HTTP goes to an HTTP connection manager with
//     Istio's default retry policy, everything else to tcp_proxy; both to
//     PassthroughCluster (ORIGINAL_DST: the destination itself), which
//     keeps the downstream protocol so that h2c and gRPC stay HTTP/2.
//   - inbound, listener virtualInbound on :15006 (INBOUND): the same
//     detection; HTTP and TCP go to InboundPassthroughClusterIpv4, which
//     connects to the original destination (the pod's IP and port) from
//     127.0.0.6, an address the redirect rules leave alone. An application
//     that listens only on 127.0.0.1 is therefore not reachable from the
//     network, as it would not be without the sidecar.
//   - a chain for the capture port itself on each listener sends direct
//     connections to BlackHoleCluster instead of looping.
//   - routes have no timeout, circuit breakers no practical limit (the
//     sidecar must not invent failures the application never had),
//     websockets are allowed and HTTP/1.0 accepted.
//   - the admin API on 127.0.0.1:15000; the readiness (15021) and
//     Prometheus (15090) ports are served beside it (Ports).
package sidecar

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Istio's port numbers, the defaults.
const (
	DefaultOutboundPort = 15001
	DefaultInboundPort  = 15006
	DefaultAdminPort    = 15000
	DefaultHealthPort   = 15021
	DefaultMetricsPort  = 15090
)

// DefaultDetectionTimeout bounds protocol detection: a client that has
// sent nothing recognisable by then goes on as TCP. Half a second lets a
// slow HTTP client through while a server-first protocol on an unknown
// port waits only once (its destination is then remembered).
const DefaultDetectionTimeout = 500 * time.Millisecond

// DefaultOpaquePorts are the server-first or opaque ports on which
// detection is off, as Linkerd ships them: SMTP (25, 587), MySQL (3306),
// Galera (4444), PostgreSQL (5432), Redis (6379), Elasticsearch transport
// (9300), memcached (11211).
var DefaultOpaquePorts = []uint16{25, 587, 3306, 4444, 5432, 6379, 9300, 11211}

// Environment variables the sidecar reads (FromEnv). The injector sets the
// pod's identity; the detection settings may be set by hand.
const (
	EnvPodName          = "POD_NAME"
	EnvPodNamespace     = "POD_NAMESPACE"
	EnvPodIP            = "POD_IP"
	EnvServiceAccount   = "SERVICE_ACCOUNT"
	EnvNodeName         = "NODE_NAME"
	EnvInstanceIPs      = "INSTANCE_IPS"                        // all the pod's IPs, comma-separated; default INSTANCE_IP, then POD_IP
	EnvInstanceIP       = "INSTANCE_IP"                         // Istio's name for the pod's IP(s)
	EnvTrustDomain      = "TRUST_DOMAIN"                        // default cluster.local
	EnvOpaquePorts      = "OUTRIDER_OPAQUE_PORTS"               // replaces DefaultOpaquePorts; "" keeps them, "none" clears them
	EnvDetectionTimeout = "OUTRIDER_PROTOCOL_DETECTION_TIMEOUT" // a Go duration
)

// Options are the sidecar's settings. The zero value of every field means
// its default; Bootstrap fills them in.
type Options struct {
	// The pod's identity, reported by /server_info and used in the node id.
	PodName, PodNamespace, PodIP, ServiceAccount, NodeName string
	// InstanceIPs are the pod's addresses; empty means PodIP alone.
	InstanceIPs []string
	// TrustDomain is the SPIFFE trust domain; empty means cluster.local.
	TrustDomain string

	// Ports; zero means Istio's number (DefaultOutboundPort, …).
	OutboundPort, InboundPort, AdminPort, HealthPort, MetricsPort uint16

	// DualStack adds IPv6 listeners on [::] beside the IPv4 ones; inbound
	// connections to IPv6 destinations then come from ::6.
	DualStack bool

	// DetectionTimeout bounds protocol detection; zero means
	// DefaultDetectionTimeout.
	DetectionTimeout time.Duration
	// OpaquePorts skip detection: their connections are TCP at once. Nil
	// means DefaultOpaquePorts; an empty non-nil slice means none.
	OpaquePorts []uint16
	// HTTPOnlyInboundPorts are inbound ports that only accept HTTP: a
	// connection to one that is not detected as HTTP (including a
	// detection timeout) is refused, never passed through as TCP. This is
	// where authorization with HTTP-only rules plugs in.
	HTTPOnlyInboundPorts []uint16

	// AccessLog is where access logs go: "" means standard output, "off"
	// means nowhere, anything else is a file path.
	AccessLog string
	// MaxDestinations caps the per-destination request stats of each
	// direction; zero means the filter's default (256).
	MaxDestinations uint32
}

// FromEnv reads the pod's identity and the detection settings from the
// environment; getenv is usually os.Getenv.
func FromEnv(getenv func(string) string) (Options, error) {
	o := Options{
		PodName:        getenv(EnvPodName),
		PodNamespace:   getenv(EnvPodNamespace),
		PodIP:          getenv(EnvPodIP),
		ServiceAccount: getenv(EnvServiceAccount),
		NodeName:       getenv(EnvNodeName),
		TrustDomain:    getenv(EnvTrustDomain),
	}
	v := getenv(EnvInstanceIPs)
	if v == "" {
		v = getenv(EnvInstanceIP)
	}
	if v != "" {
		for _, ip := range strings.Split(v, ",") {
			if ip = strings.TrimSpace(ip); ip != "" {
				o.InstanceIPs = append(o.InstanceIPs, ip)
			}
		}
	}
	if v := getenv(EnvOpaquePorts); v != "" {
		ports, err := ParsePorts(v)
		if err != nil {
			return Options{}, fmt.Errorf("sidecar: %s: %w", EnvOpaquePorts, err)
		}
		o.OpaquePorts = ports
	}
	if v := getenv(EnvDetectionTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Options{}, fmt.Errorf("sidecar: %s: %q is not a positive duration", EnvDetectionTimeout, v)
		}
		o.DetectionTimeout = d
	}
	return o, nil
}

// ParsePorts reads a port list: "25,587,3306", ranges "9000-9010", or
// "none" for an empty (non-nil) list.
func ParsePorts(s string) ([]uint16, error) {
	s = strings.TrimSpace(s)
	if s == "none" {
		return []uint16{}, nil
	}
	var out []uint16
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := parsePort(lo)
		if err != nil {
			return nil, err
		}
		last := first
		if isRange {
			if last, err = parsePort(hi); err != nil {
				return nil, err
			}
			if last < first {
				return nil, fmt.Errorf("port range %q is empty", part)
			}
		}
		for p := int(first); p <= int(last); p++ {
			out = append(out, uint16(p))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return uint16(n), nil
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	def := func(p *uint16, v uint16) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.OutboundPort, DefaultOutboundPort)
	def(&o.InboundPort, DefaultInboundPort)
	def(&o.AdminPort, DefaultAdminPort)
	def(&o.HealthPort, DefaultHealthPort)
	def(&o.MetricsPort, DefaultMetricsPort)
	if o.DetectionTimeout == 0 {
		o.DetectionTimeout = DefaultDetectionTimeout
	}
	if o.OpaquePorts == nil {
		o.OpaquePorts = DefaultOpaquePorts
	}
	if o.TrustDomain == "" {
		o.TrustDomain = "cluster.local"
	}
	if len(o.InstanceIPs) == 0 && o.PodIP != "" {
		o.InstanceIPs = []string{o.PodIP}
	}
	return o
}

// check reports contradictory options.
func (o Options) check() error {
	ports := map[uint16]string{}
	for _, p := range []struct {
		name string
		port uint16
	}{{"outbound", o.OutboundPort}, {"inbound", o.InboundPort}, {"admin", o.AdminPort}, {"health", o.HealthPort}, {"metrics", o.MetricsPort}} {
		if other, dup := ports[p.port]; dup {
			return fmt.Errorf("sidecar: the %s and %s ports are both %d", other, p.name, p.port)
		}
		ports[p.port] = p.name
	}
	if o.DetectionTimeout < 0 {
		return fmt.Errorf("sidecar: detection timeout %v is negative", o.DetectionTimeout)
	}
	for _, p := range o.HTTPOnlyInboundPorts {
		if slices.Contains(o.OpaquePorts, p) {
			return fmt.Errorf("sidecar: port %d cannot be both opaque and HTTP-only", p)
		}
		if _, own := ports[p]; own {
			return fmt.Errorf("sidecar: port %d is one of the proxy's own", p)
		}
	}
	return nil
}

// Identity is the pod identity /server_info reports: the non-empty ones of
// pod_name, pod_namespace, pod_ip, instance_ips, service_account,
// node_name, and spiffe_id when the namespace and service account are
// known.
func (o Options) Identity() map[string]string {
	o = o.withDefaults()
	id := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			id[k] = v
		}
	}
	set("pod_name", o.PodName)
	set("pod_namespace", o.PodNamespace)
	set("pod_ip", o.PodIP)
	set("instance_ips", strings.Join(o.InstanceIPs, ","))
	set("service_account", o.ServiceAccount)
	set("node_name", o.NodeName)
	set("spiffe_id", o.SPIFFEID())
	return id
}

// SPIFFEID is spiffe://<trust domain>/ns/<namespace>/sa/<service
// account>, or "" when the namespace or service account is unknown.
func (o Options) SPIFFEID() string {
	if o.PodNamespace == "" || o.ServiceAccount == "" {
		return ""
	}
	td := o.TrustDomain
	if td == "" {
		td = "cluster.local"
	}
	return "spiffe://" + td + "/ns/" + o.PodNamespace + "/sa/" + o.ServiceAccount
}

// nodeID is Istio's node id: sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>.
func (o Options) nodeID() string {
	ip, pod, ns := o.PodIP, o.PodName, o.PodNamespace
	if ip == "" {
		ip = "127.0.0.1"
	}
	if pod == "" {
		pod = "unknown"
	}
	if ns == "" {
		ns = "default"
	}
	return "sidecar~" + ip + "~" + pod + "." + ns + "~" + ns + ".svc." + o.TrustDomain
}
