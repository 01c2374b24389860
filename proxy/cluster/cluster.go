package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/outrider-mesh/outrider/proxy/balancer"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/upstream"
)

// Cluster is one upstream cluster. Its parts are values in one struct, not
// separate objects: a sidecar may hold thousands of clusters.
type Cluster struct {
	digest digest   // of its configuration, to tell an unchanged cluster on Update
	s      settings // a copy (the translation's is dropped); s.name is the name
	stats  *clusterStats
	// traffic holds what the first request makes (busy): the traffic
	// stats and the dialer. Most clusters of a large mesh never get one.
	traffic      atomic.Pointer[traffic]
	trafficStats stats.Lazy[trafficStats]
	// The circuit breakers' thresholds. retries is max_retries: the router
	// takes a unit per retry.
	pending, requests, retries, conns upstream.Limit

	hosts   atomic.Pointer[hostSet]
	origDst *origDstHosts // ORIGINAL_DST only

	warm   chan struct{} // closed once the first endpoints are known
	warmed atomic.Bool
	// disc is the discovery (DNS, ORIGINAL_DST); nil for STATIC
	// clusters, which have none.
	disc *discovery
}

// discovery is a cluster's endpoint discovery goroutine.
type discovery struct {
	ctx    context.Context // ends it
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has exited
}

func newDiscovery() *discovery {
	ctx, cancel := context.WithCancel(context.Background())
	return &discovery{ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// warmAtStart is the warm channel of clusters whose endpoints are known
// when they start (STATIC, ORIGINAL_DST): closed already, shared.
var warmAtStart = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func newCluster(d digest, s *settings, store *stats.Store) *Cluster {
	c := &Cluster{digest: d, s: s.owned()}
	sc := stats.ClusterScope(store, c.s.statName)
	c.stats = stats.NewBlock[clusterStats](sc)
	c.trafficStats = stats.NewLazyBlock[trafficStats](sc)
	// track_remaining adds the remaining_* gauges; without it they are nil.
	var remCx, remPending, remRq, remRetries *stats.BlockGauge
	if s.thresholds.trackRemaining {
		r := stats.NewBlock[remainingStats](sc)
		remCx, remPending, remRq, remRetries = &r.Cx, &r.Pending, &r.Rq, &r.Retries
	}
	t, st := s.thresholds, c.stats
	c.pending.Init(t.maxPending, &st.RqPendingOpen, remPending)
	c.requests.Init(t.maxRequests, &st.RqOpen, remRq)
	c.retries.Init(t.maxRetries, &st.RqRetryOpen, remRetries)
	c.conns.Init(t.maxConnections, &st.CxOpen, remCx)
	c.hosts.Store(noHosts)
	return c
}

// traffic is what a cluster needs once it carries requests or
// connections.
type traffic struct {
	stats  Stats
	dialer upstream.Dialer
}

// busy returns the cluster's traffic state, making it the first time.
func (c *Cluster) busy() *traffic {
	if t := c.traffic.Load(); t != nil {
		return t
	}
	ts := c.trafficStats.Get()
	t := &traffic{
		stats: Stats{clusterStats: c.stats, trafficStats: ts, scope: c.trafficStats.Scope()},
		dialer: upstream.Dialer{
			Timeout: c.s.connectTimeout,
			Source:  c.s.source,
			Conns:   &c.conns,
			Stats:   &ts.Stats,
			TLS:     c.s.tls,
		},
	}
	if !c.traffic.CompareAndSwap(nil, t) {
		return c.traffic.Load() // another request made it first
	}
	return t
}

// limits are the breakers a pool's requests count against.
func (c *Cluster) limits() upstream.Limits {
	return upstream.Limits{Pending: &c.pending, Requests: &c.requests}
}

// start begins endpoint discovery.
func (c *Cluster) start() {
	switch c.s.kind {
	case clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS:
		c.warm = make(chan struct{})
		c.disc = newDiscovery()
		go c.resolveLoop()
	case clusterv3.Cluster_ORIGINAL_DST:
		c.warm = warmAtStart
		c.warmed.Store(true)
		c.disc = newDiscovery()
		c.origDst = &origDstHosts{c: c, hosts: map[netip.AddrPort]*Host{}}
		go c.origDst.cleanup()
	default: // STATIC
		c.warm = warmAtStart
		c.warmed.Store(true)
		hosts := make([]*Host, 0, len(c.s.endpoints))
		for _, e := range c.s.endpoints {
			ip, _ := netip.ParseAddr(e.host) // checked at translation
			hosts = append(hosts, c.newHost(netip.AddrPortFrom(ip, e.port), e.weight, own(e.hostname), e.health))
		}
		// The hosts hold the endpoints now; the translation's list goes.
		c.s.endpoints = nil
		c.setHosts(hosts)
	}
}

// stop ends discovery and drains every pool: idle connections close,
// active requests finish.
func (c *Cluster) stop() {
	if c.disc != nil {
		c.disc.cancel()
		<-c.disc.done
	}
	for _, h := range c.Hosts() {
		h.drain()
	}
}

func (c *Cluster) markWarm() {
	if c.warmed.CompareAndSwap(false, true) {
		close(c.warm)
	}
}

func (c *Cluster) newHost(addr netip.AddrPort, weight uint32, hostname string, health corev3.HealthStatus) *Host {
	return &Host{c: c, addr: addr, weight: weight, hostname: hostname, health: health}
}

// setHosts swaps in a new endpoint set; pools of hosts that left drain.
func (c *Cluster) setHosts(hosts []*Host) {
	hs := c.newHostSet(hosts)
	old := c.hosts.Swap(hs)
	c.stats.MembershipTotal.Set(int64(len(hosts)))
	c.stats.MembershipHealthy.Set(int64(hs.healthy))
	c.stats.MembershipChange.Inc()
	for _, h := range old.hosts {
		if !slices.Contains(hosts, h) {
			h.drain()
		}
	}
	c.markWarm()
}

// Hosts returns the current endpoints, for the admin API.
func (c *Cluster) Hosts() []*Host {
	if c.origDst != nil {
		return c.origDst.all()
	}
	return slices.Clone(c.hosts.Load().hosts)
}

// Stats are the cluster's stats.
//
// The first call allocates the traffic stats: call it when the cluster
// carries a request.
func (c *Cluster) Stats() *Stats { return &c.busy().stats }

// RetryLimit is the max_retries circuit breaker: the router takes a unit
// for each retry and gives it back when the retry ends.
func (c *Cluster) RetryLimit() *upstream.Limit { return &c.retries }

// Type is the discovery type (STATIC, STRICT_DNS, …), for the admin API.
func (c *Cluster) Type() string { return c.s.kind.String() }

// healthyPanicPercent is Envoy's default healthy_panic_threshold: when
// fewer than this share of a cluster's hosts are healthy, health is
// ignored and every host takes traffic, so that a few survivors are not
// crushed by the load of all.
const healthyPanicPercent = 50

// noHosts is the host set of every cluster before its first endpoints:
// shared, since a STATIC cluster replaces it at once and a fresh one
// would be garbage among what the cluster keeps.
var noHosts = &hostSet{picker: balancer.New[*Host](balancer.Config{}, nil)}

// hostSet is one immutable endpoint set with its picker.
type hostSet struct {
	hosts   []*Host                 // every endpoint, healthy or not
	healthy int                     // how many of hosts are healthy
	picker  *balancer.Picker[*Host] // over the healthy hosts, or all of them in panic
	// panicked counts picks made in panic mode (lb_healthy_panic); nil
	// when the set is not in panic.
	panicked *stats.BlockCounter
}

func (c *Cluster) newHostSet(hosts []*Host) *hostSet {
	hs := &hostSet{hosts: hosts}
	for _, h := range hosts {
		if h.Healthy() {
			hs.healthy++
		}
	}
	healthy := hosts // all of them, as usual: no copy
	if hs.healthy < len(hosts) {
		healthy = make([]*Host, 0, hs.healthy)
		for _, h := range hosts {
			if h.Healthy() {
				healthy = append(healthy, h)
			}
		}
	}
	if len(hosts) > 0 && len(healthy)*100 < healthyPanicPercent*len(hosts) {
		healthy, hs.panicked = hosts, &c.stats.LbHealthyPanic
	}
	hs.picker = balancer.New(balancer.Config{Policy: c.s.lb.Policy, ChoiceCount: c.s.lb.ChoiceCount}, healthy)
	return hs
}

func (hs *hostSet) pick(lb *LBContext) (*Host, error) {
	h, ok := hs.picker.Pick()
	if !ok {
		return nil, failure.ErrNoHealthyUpstream
	}
	if hs.panicked != nil {
		hs.panicked.Inc()
	}
	if lb == nil || len(lb.Previous) == 0 {
		return h, nil
	}
	tries := lb.SelectionRetries
	if tries <= 0 {
		tries = 1
	}
	for ; tries > 0 && slices.Contains(lb.Previous, h); tries-- {
		h, _ = hs.picker.Pick()
	}
	return h, nil
}

// Host is one endpoint of a cluster.
type Host struct {
	c    *Cluster
	addr netip.AddrPort
	// addrText is addr as text, made by the first String: most hosts of
	// a large mesh are never logged.
	addrText atomic.Pointer[string]
	hostname string // endpoint.hostname, else the DNS name it was resolved from
	// The 4-byte fields together, so that a Host fits 160 bytes.
	weight uint32
	health corev3.HealthStatus
	// pool is made by the first request: in a large mesh most endpoints
	// of a sidecar never get one. drained is set when the endpoint
	// leaves, so that a pool made afterwards drains too.
	drained  atomic.Bool
	pool     atomic.Pointer[upstream.Pool]
	stats    upstream.HostStats
	lastUsed atomic.Int64 // unix nanoseconds; ORIGINAL_DST cleanup reads it
}

// Weight is the endpoint's load_balancing_weight.
func (h *Host) Weight() uint32 { return h.weight }

// ActiveRequests is the number of requests in flight to the endpoint.
func (h *Host) ActiveRequests() int64 { return h.stats.RqActive.Load() }

// Pool is the endpoint's HTTP connection pool.
func (h *Host) Pool() *upstream.Pool {
	h.touch()
	if p := h.pool.Load(); p != nil {
		return p
	}
	c := h.c
	if !h.pool.CompareAndSwap(nil, upstream.NewPool(h.addr, &c.busy().dialer, &c.s.http, c.limits(), &h.stats)) {
		return h.pool.Load() // another request made it first
	}
	// drain sets drained before it looks for the pool, this stored the
	// pool before looking at drained: one of the two sees the other.
	p := h.pool.Load()
	if h.drained.Load() {
		p.Drain()
	}
	return p
}

// drain closes the endpoint's idle connections and lets active requests
// finish; its pool, now or later, takes no new request.
func (h *Host) drain() {
	h.drained.Store(true)
	if p := h.pool.Load(); p != nil {
		p.Drain()
	}
}

// idle reports whether no request is in flight to the endpoint.
func (h *Host) idle() bool { return h.stats.RqActive.Load() == 0 }

// Stats are the endpoint's counters.
func (h *Host) Stats() *upstream.HostStats { return &h.stats }

// Hostname is the endpoint's hostname, else the DNS name it was resolved
// from ("" for IPs without one); auto_host_rewrite uses it.
func (h *Host) Hostname() string { return h.hostname }

// Healthy reports whether the endpoint takes traffic outside panic mode:
// its health_status is not UNHEALTHY, DRAINING or TIMEOUT.
func (h *Host) Healthy() bool {
	switch h.health {
	case corev3.HealthStatus_UNHEALTHY, corev3.HealthStatus_DRAINING, corev3.HealthStatus_TIMEOUT:
		return false
	}
	return true
}

// String is the endpoint's "ip:port", made once, on first use (access
// logs want it per request).
func (h *Host) String() string {
	if t := h.addrText.Load(); t != nil {
		return *t
	}
	t := h.addr.String()
	h.addrText.CompareAndSwap(nil, &t)
	return *h.addrText.Load()
}

func (h *Host) touch() { h.lastUsed.Store(time.Now().UnixNano()) }

var _ balancer.Endpoint = (*Host)(nil)

var _ fmt.Stringer = (*Host)(nil)
