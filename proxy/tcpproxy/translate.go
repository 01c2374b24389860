// Package tcpproxy is envoy.filters.network.tcp_proxy: it connects each
// downstream connection to an endpoint of a cluster and copies bytes both
// ways, propagating half-close (a FIN from one side becomes a CloseWrite
// on the other) until both directions are done.
package tcpproxy

import (
	"log/slog"
	"sync"
	"time"

	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// defaultIdleTimeout is Envoy's idle_timeout default.
const defaultIdleTimeout = time.Hour

// Proxy is one translated tcp_proxy filter.
type Proxy struct {
	clusters    []weighted // one entry with weight 1 for "cluster"
	totalWeight uint64
	// idleTimeout closes a connection with no bytes in either direction
	// for this long; zero disables it, and then bytes are spliced
	// between the sockets without passing through user space.
	idleTimeout time.Duration
	// maxDuration closes a connection this long after it opened; zero
	// disables it.
	maxDuration time.Duration
	attempts    int // max_connect_attempts, at least 1
	accessLog   network.AccessLogger
	lookup      func(name string) network.Upstream
	drainTime   time.Duration
	log         *slog.Logger
	st          *proxyStats

	mu       sync.Mutex
	sessions map[*session]struct{}
	drainAt  time.Time // zero until Drain
}

type weighted struct {
	name   string
	weight uint64
}

// proxyStats are Envoy's tcp.<stat_prefix>.* stats.
type proxyStats struct {
	cxTotal, noRoute, rxBytes, txBytes, idleTimeout, maxDuration *stats.Counter
	connectFail                                                  *stats.Counter
	active                                                       *stats.Gauge
}

func newStats(store *stats.Store, prefix string) *proxyStats {
	sc := stats.TCPScope(store, prefix)
	return &proxyStats{
		cxTotal:     sc.Counter("downstream_cx_total"),
		noRoute:     sc.Counter("downstream_cx_no_route"),
		rxBytes:     sc.Counter("downstream_cx_rx_bytes_total"),
		txBytes:     sc.Counter("downstream_cx_tx_bytes_total"),
		idleTimeout: sc.Counter("idle_timeout"),
		maxDuration: sc.Counter("max_downstream_connection_duration"),
		connectFail: sc.Counter("upstream_connect_failed"),
		active:      sc.Gauge("downstream_cx_active"),
	}
}

// Translate builds a Proxy from pb, found at path p.
func Translate(pb *tcpproxyv3.TcpProxy, env *network.Env, p config.Path) (*Proxy, error) {
	var errs config.Errors
	network.RejectUnhandled(&errs, pb, p, "stat_prefix", "cluster", "weighted_clusters",
		"idle_timeout", "access_log", "max_connect_attempts", "max_downstream_connection_duration")
	if pb.GetStatPrefix() == "" {
		errs.Addf(p.Field("stat_prefix"), "tcp_proxy: stat_prefix is required")
	}
	px := &Proxy{
		idleTimeout: defaultIdleTimeout,
		attempts:    1,
		drainTime:   env.Drain(),
		log:         env.Logger(),
		sessions:    map[*session]struct{}{},
	}
	if env.Stats != nil {
		px.st = newStats(env.Stats, pb.GetStatPrefix())
	} else {
		px.st = newStats(stats.NewStore(), pb.GetStatPrefix())
	}
	// Clusters are looked up per connection, as Envoy does: a cluster
	// that does not exist yet is counted as downstream_cx_no_route.
	px.lookup = env.Cluster
	switch {
	case pb.GetCluster() != "":
		px.clusters = []weighted{{name: pb.GetCluster(), weight: 1}}
	case pb.GetWeightedClusters() != nil:
		wp := p.Field("weighted_clusters")
		network.RejectUnhandled(&errs, pb.GetWeightedClusters(), wp, "clusters")
		for i, cw := range pb.GetWeightedClusters().GetClusters() {
			cp := wp.Field("clusters").Index(i)
			network.RejectUnhandled(&errs, cw, cp, "name", "weight")
			if cw.GetWeight() == 0 {
				continue
			}
			px.clusters = append(px.clusters, weighted{name: cw.GetName(), weight: uint64(cw.GetWeight())})
		}
		if len(px.clusters) == 0 {
			errs.Addf(wp.Field("clusters"), "tcp_proxy: at least one cluster with a weight is required")
		}
	default:
		errs.Addf(p.Field("cluster"), "tcp_proxy: cluster or weighted_clusters is required")
	}
	for _, c := range px.clusters {
		px.totalWeight += c.weight
	}
	if d := pb.GetIdleTimeout(); d != nil {
		px.idleTimeout = d.AsDuration()
	}
	if d := pb.GetMaxDownstreamConnectionDuration(); d != nil {
		px.maxDuration = d.AsDuration()
	}
	if n := pb.GetMaxConnectAttempts(); n != nil {
		if n.GetValue() < 1 {
			errs.Addf(p.Field("max_connect_attempts"), "tcp_proxy: must be at least 1")
		}
		px.attempts = max(1, int(n.GetValue()))
	}
	if logs := pb.GetAccessLog(); len(logs) > 0 {
		lp := p.Field("access_log")
		if al, err := env.AccessLoggers(logs, lp); err != nil {
			errs.Add(lp, err)
		} else {
			px.accessLog = al
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return px, nil
}
