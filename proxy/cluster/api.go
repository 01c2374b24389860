// Package cluster holds the upstream clusters: their endpoints (static, DNS
// or the connection's original destination), load balancing, circuit
// breakers, connection pools and Envoy's cluster stats.
//
// CONTRACT (frozen by the lead; other packages code against these names):
//   - Manager: NewManager, Update, Get, All.
//   - Cluster: Name, Pick, DialTCP.
//   - LBContext, Host.Address.
//
// Add freely; do not rename or change these signatures.
package cluster

import (
	"context"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/transport/tls"
	"github.com/outrider-mesh/outrider/proxy/upstream"
)

// Manager holds the current set of clusters. Update swaps a new set in
// atomically; Get never blocks.
type Manager struct {
	store    *stats.Store
	tlsReg   *tls.Registry // see SetTLSRegistry
	mu       sync.Mutex    // serialises Update
	clusters atomic.Pointer[map[string]*Cluster]
	// warming holds changed clusters not yet warm, by name (warming.go);
	// guarded by mu.
	warming map[string]*Cluster
}

// NewManager returns an empty manager whose stats go to store.
func NewManager(store *stats.Store) *Manager {
	m := &Manager{store: store}
	m.clusters.Store(&map[string]*Cluster{})
	return m
}

// Update translates pbs (found at path p, e.g. "static_resources.clusters")
// and swaps them in as the whole set. A cluster whose config is unchanged
// keeps its runtime state (endpoints, pools, breaker counts); removed
// clusters drain their pools. On error nothing changes and the error is a
// config.Errors naming each bad field.
func (m *Manager) Update(pbs []*clusterv3.Cluster, p config.Path) error {
	var errs config.Errors
	all := make([]*settings, len(pbs))
	seen := make(map[string]bool, len(pbs))
	for i, pb := range pbs {
		ip := p.Index(i)
		all[i] = translate(pb, ip, &errs)
		translateTLS(pb, all[i], m.registry(), m.store, ip, &errs)
		if name := pb.GetName(); seen[name] {
			errs.Addf(ip.Field("name"), "cluster: duplicate cluster name %q", name)
		}
		seen[pb.GetName()] = true
	}
	if err := errs.Err(); err != nil {
		return err
	}
	sharePolicies(all)

	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.clusters.Load()
	next := make(map[string]*Cluster, len(pbs))
	var dg digester
	for i, pb := range pbs {
		// Each translation is dropped as its cluster is made, so that what
		// it allocated is freed among the clusters made after it, not
		// left as holes beside them once the update is over.
		s := all[i]
		all[i] = nil
		// s.name still points into the proto: it only looks clusters up;
		// the map keys are the clusters' own copies.
		name := s.name
		d := dg.of(pb)
		if c, ok := old[name]; ok && c.digest.same(d) {
			m.dropWarming(name) // back to the serving config
			next[c.s.name] = c
			continue
		}
		if w := m.warming[name]; w != nil && w.digest.same(d) {
			next[w.s.name] = old[name] // the same change, still warming
			continue
		}
		m.dropWarming(name)
		c := newCluster(d, s, m.store)
		// Started before it is published, so that a STATIC cluster has
		// its endpoints when the first request finds it.
		c.start()
		if prev, ok := old[name]; ok && !c.warmed.Load() {
			next[c.s.name] = prev
			m.warm(c)
			continue
		}
		next[c.s.name] = c
	}
	for name := range m.warming {
		if _, ok := next[name]; !ok {
			m.dropWarming(name) // removed
		}
	}
	m.clusters.Store(&next)
	for name, c := range old {
		if next[name] != c {
			c.stop()
		}
	}
	return nil
}

// sharePolicies gives clusters with equal policies one copy of it: in a
// mesh of thousands of services most clusters differ only by name and
// endpoints. A policy with TLS keeps its own (its handshaker is not
// compared).
func sharePolicies(all []*settings) {
	shared := map[policy]*policy{}
	for _, s := range all {
		if s.tls != nil {
			continue
		}
		if p, ok := shared[*s.policy]; ok {
			s.policy = p
			continue
		}
		shared[*s.policy] = s.policy
	}
}

// Get returns the named cluster, or nil.
func (m *Manager) Get(name string) *Cluster {
	return (*m.clusters.Load())[name]
}

// All returns the clusters sorted by name, for the admin API.
func (m *Manager) All() []*Cluster {
	cs := *m.clusters.Load()
	out := make([]*Cluster, 0, len(cs))
	for _, c := range cs {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].s.name < out[j].s.name })
	return out
}

// WaitWarm blocks until every current cluster is warm (DNS clusters once
// their first round of resolutions has completed, successful or not, as
// Envoy warms clusters before serving), or ctx is done.
func (m *Manager) WaitWarm(ctx context.Context) error {
	for _, c := range m.All() {
		select {
		case <-c.warm:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close stops every cluster and drains its pools.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range *m.clusters.Swap(&map[string]*Cluster{}) {
		c.stop()
	}
	for name := range m.warming {
		m.dropWarming(name)
	}
}

// LBContext carries the per-request inputs to host selection.
type LBContext struct {
	// OriginalDst is the downstream connection's original destination; an
	// ORIGINAL_DST cluster connects to it.
	OriginalDst netip.AddrPort
	// Previous lists hosts already tried by this request, which retries
	// avoid when the policy asks for it.
	Previous []*Host
	// SelectionRetries is how many more times Pick may choose again when
	// it lands on a host in Previous (host_selection_retry_max_attempts);
	// zero means once, Envoy's default.
	SelectionRetries int
}

// Name is the cluster's name.
func (c *Cluster) Name() string { return c.s.name }

// Pick chooses an endpoint. It fails with failure.ErrNoHealthyUpstream when
// there is none.
func (c *Cluster) Pick(lb *LBContext) (*Host, error) {
	if c.origDst != nil {
		return c.origDst.pick(lb)
	}
	return c.hosts.Load().pick(lb)
}

// DialTCP opens an opaque TCP connection to h for tcp_proxy, honouring
// connect_timeout, upstream_bind_config, max_connections and the
// upstream_cx_* stats. Errors are failure.ErrConnectFailure or
// failure.ErrOverflow (wrapped with the cause).
func (c *Cluster) DialTCP(ctx context.Context, h *Host) (net.Conn, error) {
	h.touch()
	conn, _, err := c.busy().dialer.DialSecure(ctx, h.addr, &h.stats, nil)
	if err != nil {
		return nil, err
	}
	if uc, ok := conn.(*upstream.Conn); ok {
		uc.ForBulk() // a tcp_proxy stream: see ForBulk
	}
	return conn, nil
}

// Address is the endpoint's address.
func (h *Host) Address() netip.AddrPort { return h.addr }
