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

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Manager holds the current set of clusters. Update swaps a new set in
// atomically; Get never blocks.
type Manager struct {
	store *stats.Store
	// TODO(upstream): atomic map of clusters.
}

// NewManager returns an empty manager whose stats go to store.
func NewManager(store *stats.Store) *Manager {
	return &Manager{store: store}
}

// Update translates pbs (found at path p, e.g. "static_resources.clusters")
// and swaps them in as the whole set. A cluster whose config is unchanged
// keeps its runtime state (endpoints, pools, breaker counts); removed
// clusters drain their pools. On error nothing changes and the error is a
// config.Errors naming each bad field.
func (m *Manager) Update(pbs []*clusterv3.Cluster, p config.Path) error {
	panic("cluster: Update not implemented")
}

// Get returns the named cluster, or nil.
func (m *Manager) Get(name string) *Cluster {
	panic("cluster: Get not implemented")
}

// All returns the clusters sorted by name, for the admin API.
func (m *Manager) All() []*Cluster {
	panic("cluster: All not implemented")
}

// LBContext carries the per-request inputs to host selection.
type LBContext struct {
	// OriginalDst is the downstream connection's original destination; an
	// ORIGINAL_DST cluster connects to it.
	OriginalDst netip.AddrPort
	// Previous lists hosts already tried by this request, which retries
	// avoid when the policy asks for it.
	Previous []*Host
}

// Cluster is one upstream cluster.
type Cluster struct {
	name string
}

// Name is the cluster's name.
func (c *Cluster) Name() string { return c.name }

// Pick chooses an endpoint. It fails with failure.ErrNoHealthyUpstream when
// there is none.
func (c *Cluster) Pick(lb *LBContext) (*Host, error) {
	panic("cluster: Pick not implemented")
}

// DialTCP opens an opaque TCP connection to h for tcp_proxy, honouring
// connect_timeout, upstream_bind_config, max_connections and the
// upstream_cx_* stats. Errors are failure.ErrConnectFailure or
// failure.ErrOverflow (wrapped with the cause).
func (c *Cluster) DialTCP(ctx context.Context, h *Host) (net.Conn, error) {
	panic("cluster: DialTCP not implemented")
}

// Host is one endpoint of a cluster.
type Host struct {
	addr netip.AddrPort
}

// Address is the endpoint's address.
func (h *Host) Address() netip.AddrPort { return h.addr }
