package demo

import (
	"bufio"
	"strconv"
	"strings"

	"github.com/outrider-mesh/outrider/demo/sampleapp"
)

// SidecarStats are the counters of one sidecar that the demo shows, read
// from its admin API (/stats). Counters only grow, so a view can subtract
// two readings.
type SidecarStats struct {
	// Connections counts the connections the capture listener accepted
	// (:15001 outbound, :15006 inbound): every one was redirected to the
	// proxy by the rules outrider-init installed.
	Connections uint64 `json:"connections"`
	// HTTPRequests counts the requests the HTTP connection managers
	// handled; TCPConnections the connections passed through as TCP.
	HTTPRequests   uint64 `json:"http_requests"`
	TCPConnections uint64 `json:"tcp_connections"`
	// UpstreamRequests counts attempts sent on, retries included.
	UpstreamRequests uint64 `json:"upstream_requests"`
	// Retries counts retried attempts, RetrySuccess the requests that
	// succeeded after a retry, RetryLimitExceeded those still failing when
	// the retries ran out.
	Retries            uint64 `json:"retries"`
	RetrySuccess       uint64 `json:"retry_success"`
	RetryLimitExceeded uint64 `json:"retry_limit_exceeded"`
	// Failures counts, by protocol, the failed answers the sidecar saw
	// from the server's address: HTTP 5xx and gRPC errors.
	Failures map[sampleapp.Protocol]uint64 `json:"failures,omitempty"`
}

// direction names one side of the mesh as the sidecar's stats do.
type direction struct {
	name      string   // destination stats prefix: outbound or inbound
	port      string   // capture port
	clusters  []string // passthrough clusters, by name prefix
	httpStats string   // the HTTP connection managers' stat prefix
}

var (
	outbound = direction{name: "outbound", port: "15001", clusters: []string{"PassthroughCluster"}, httpStats: "http.outbound_"}
	inbound  = direction{name: "inbound", port: "15006", clusters: []string{"InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6"}, httpStats: "http.inbound_"}
)

// parseStats reads the counters of an admin /stats page ("name: value"
// lines; histograms are skipped).
func parseStats(page string) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(value, 10, 64); err == nil {
			out[name] = n
		}
	}
	return out
}

// sidecarStats picks the demo's counters out of a sidecar's stats. server
// holds the server's "host:port" by protocol: the destinations whose
// failures are counted.
func sidecarStats(stats map[string]uint64, dir direction, server map[sampleapp.Protocol]string) SidecarStats {
	sum := func(prefix, suffix string) uint64 {
		var n uint64
		for name, v := range stats {
			if strings.HasPrefix(name, prefix) && strings.HasSuffix(name, suffix) {
				n += v
			}
		}
		return n
	}
	cluster := func(stat string) uint64 {
		var n uint64
		for _, c := range dir.clusters {
			n += stats["cluster."+c+"."+stat]
		}
		return n
	}
	s := SidecarStats{
		Connections:        sum("listener.", "_"+dir.port+".downstream_cx_total"),
		HTTPRequests:       sum(dir.httpStats, ".downstream_rq_total"),
		UpstreamRequests:   cluster("upstream_rq_total"),
		Retries:            cluster("upstream_rq_retry"),
		RetrySuccess:       cluster("upstream_rq_retry_success"),
		RetryLimitExceeded: cluster("upstream_rq_retry_limit_exceeded"),
		Failures:           map[sampleapp.Protocol]uint64{},
	}
	for _, c := range dir.clusters {
		s.TCPConnections += stats["tcp."+c+".downstream_cx_total"]
	}
	for p, addr := range server {
		dest := "destination." + dir.name + "." + statAuthority(addr) + "."
		switch p {
		case sampleapp.HTTP:
			s.Failures[p] = stats[dest+"HTTP/1.1.rq_5xx"]
		case sampleapp.GRPC:
			s.Failures[p] = stats[dest+"gRPC.grpc_failure"]
		}
	}
	return s
}

// statAuthority is an authority ("host:port", as net.JoinHostPort writes
// it) as the destination stats spell it: "10.77.0.3:8080" is
// "10.77.0.3_8080", "[fd77::3]:8080" is "[fd77__3]_8080".
func statAuthority(hostPort string) string { return strings.ReplaceAll(hostPort, ":", "_") }
