// Package listener runs the proxy's downstream side: it binds the
// configured listeners, runs their listener filters (original_dst,
// tls_inspector, http_inspector), hands redirected connections to the
// listener of their original destination (use_original_dst), picks a filter
// chain with Envoy's matching order and gives the connection to its network
// filter (tcp_proxy or http_connection_manager).
//
// Manager.Apply swaps a whole new listener set in. A listener whose name
// and address are unchanged keeps its socket, so a reload refuses no
// connection; if its config changed, new connections use the new config
// and the old connections drain (see network.Filter.Drain). A change that
// only touches inline route_config is applied in place: every connection,
// old or new, uses the new routes from its next request, and nothing
// drains.
package listener

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/listener/detect"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Env is what translation needs; see network.Env.
type Env = network.Env

// Manager owns every listener of the process.
type Manager struct {
	env *Env
	st  managerStats

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu        sync.Mutex // serialises Apply, drains and Close
	listeners map[string]*active
	draining  drainState // StartDrain
	stopped   drainState // StopListening
	closed    bool

	// byAddr maps every listener's configured address to it, for
	// use_original_dst hand-off. Replaced whole by Apply.
	byAddr atomic.Pointer[map[netip.AddrPort]*active]

	// serverFirst remembers destinations that spoke first after a
	// detection timeout (see package detect); it outlives reloads.
	serverFirst *detect.ServerFirst

	connsMu sync.Mutex
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup // accept loops and connections
}

// drainState records which listeners a drain or stop applies to.
type drainState struct{ all, inbound bool }

func (d drainState) covers(c *listenerConfig) bool {
	return d.all || (d.inbound && c.inbound)
}

type managerStats struct {
	added, modified, removed, inPlace, createFailure *stats.Counter
	active, draining                                 *stats.Gauge
	totalConnections                                 *stats.Gauge
}

// NewManager returns a manager with no listener.
func NewManager(env *Env) *Manager {
	if env == nil {
		env = &Env{}
	}
	if env.Stats == nil {
		env.Stats = stats.NewStore()
	}
	sc := env.Stats.Root().Scope("listener_manager")
	m := &Manager{
		env:         env,
		listeners:   map[string]*active{},
		conns:       map[net.Conn]struct{}{},
		serverFirst: detect.NewServerFirst(detect.DefaultMemory),
		st: managerStats{
			added:            sc.Counter("listener_added"),
			modified:         sc.Counter("listener_modified"),
			removed:          sc.Counter("listener_removed"),
			inPlace:          sc.Counter("listener_in_place_updated"),
			createFailure:    sc.Counter("listener_create_failure"),
			active:           sc.Gauge("total_listeners_active"),
			draining:         sc.Gauge("total_listeners_draining"),
			totalConnections: env.Stats.Root().Scope("server").Gauge("total_connections"),
		},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	empty := map[netip.AddrPort]*active{}
	m.byAddr.Store(&empty)
	return m
}

// Apply translates pbs (found at path p, e.g. "static_resources.listeners")
// and makes them the whole listener set. On error nothing changes and the
// error is a config.Errors naming every bad field.
func (m *Manager) Apply(pbs []*listenerv3.Listener, p config.Path) error {
	cfgs, err := translateAll(pbs, m.env, p)
	if err != nil {
		return err
	}
	var errs config.Errors

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("listener: manager is closed")
	}

	// Open every new socket first, so that a bind failure changes nothing.
	type plan struct {
		cfg  *listenerConfig
		prev *active // same name, same address: keeps its socket
		ln   *net.TCPListener
	}
	plans := make([]plan, len(cfgs))
	for i, cfg := range cfgs {
		plans[i].cfg = cfg
		if prev := m.listeners[cfg.name]; prev != nil && prev.sameSocket(cfg) {
			plans[i].prev = prev
			continue
		}
		if cfg.bind && !m.stopped.covers(cfg) {
			ln, err := listen(cfg)
			if err != nil {
				for _, pl := range plans[:i] {
					if pl.ln != nil {
						pl.ln.Close()
					}
				}
				m.st.createFailure.Inc()
				errs.Addf(p.Index(i).Field("address"), "%w", err)
				return errs.Err()
			}
			plans[i].ln = ln
		}
	}

	next := make(map[string]*active, len(plans))
	for _, pl := range plans {
		if a := pl.prev; a != nil {
			next[a.name] = a
			old := a.gen.Load()
			switch {
			case proto.Equal(old.cfg.pb, pl.cfg.pb):
				// Unchanged: keep everything.
			case proto.Equal(withoutRoutes(old.cfg.pb), withoutRoutes(pl.cfg.pb)):
				a.gen.Store(&generation{cfg: adoptRoutes(old.cfg, pl.cfg)})
				m.st.inPlace.Inc()
			default:
				g := &generation{cfg: pl.cfg}
				a.gen.Store(g)
				old.drain()
				if m.draining.covers(pl.cfg) && !pl.cfg.modifyOnly {
					g.drain()
				}
				m.st.modified.Inc()
			}
			continue
		}
		a := m.newActive(pl.cfg, pl.ln)
		next[a.name] = a
		if m.draining.covers(pl.cfg) && !pl.cfg.modifyOnly {
			a.gen.Load().drain()
		}
		m.st.added.Inc()
	}
	for name, a := range m.listeners {
		if next[name] != a {
			a.stop()
			a.gen.Load().drain()
			m.st.removed.Inc()
		}
	}
	m.listeners = next
	m.publish()
	return nil
}

// publish rebuilds the address index and gauges; m.mu is held.
func (m *Manager) publish() {
	idx := make(map[netip.AddrPort]*active, len(m.listeners))
	for _, a := range m.listeners {
		idx[a.gen.Load().cfg.addr] = a
	}
	m.byAddr.Store(&idx)
	m.st.active.Set(int64(len(m.listeners)))
}

// lookup finds the listener for a redirected connection's original
// destination: exact address first, then the wildcard address of the
// same port, as Envoy does.
func (m *Manager) lookup(dst netip.AddrPort) *active {
	idx := *m.byAddr.Load()
	if a := idx[dst]; a != nil {
		return a
	}
	any4 := netip.AddrPortFrom(netip.IPv4Unspecified(), dst.Port())
	any6 := netip.AddrPortFrom(netip.IPv6Unspecified(), dst.Port())
	if dst.Addr().Is4() {
		if a := idx[any4]; a != nil {
			return a
		}
		if a := idx[any6]; a != nil && a.gen.Load().cfg.v4compat {
			return a
		}
		return nil
	}
	return idx[any6]
}

// StartDrain starts draining the listeners' connections (all, or those
// with traffic_direction INBOUND): HTTP/1 responses carry
// "Connection: close", HTTP/2 connections get a GOAWAY, requests in
// flight complete, opaque TCP connections close after the drain time.
// Listeners keep accepting; what they accept drains too. Listeners with
// drain_type MODIFY_ONLY are left alone.
func (m *Manager) StartDrain(inboundOnly bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if inboundOnly {
		m.draining.inbound = true
	} else {
		m.draining.all = true
	}
	n := 0
	for _, a := range m.listeners {
		cfg := a.gen.Load().cfg
		if m.draining.covers(cfg) && !cfg.modifyOnly {
			a.gen.Load().drain()
			n++
		}
	}
	m.st.draining.Set(int64(n))
}

// StopListening closes the listening sockets (all, or the INBOUND ones);
// established connections go on. Listeners added later stay closed too.
func (m *Manager) StopListening(inboundOnly bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if inboundOnly {
		m.stopped.inbound = true
	} else {
		m.stopped.all = true
	}
	for _, a := range m.listeners {
		if m.stopped.covers(a.gen.Load().cfg) {
			a.stop()
		}
	}
}

// ActiveConnections is the number of downstream connections open now,
// including those still in their listener filters.
func (m *Manager) ActiveConnections() int {
	return int(m.st.totalConnections.Value())
}

// Close stops every listener and closes every connection now, then waits
// for their goroutines.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for _, a := range m.listeners {
		a.stop()
	}
	m.cancel()
	m.mu.Unlock()

	m.connsMu.Lock()
	for c := range m.conns {
		c.Close()
	}
	m.connsMu.Unlock()
	m.wg.Wait()
	return nil
}

// Addr returns the bound address of the named listener (the configured
// address, with the kernel's port when port 0 was asked), or false.
func (m *Manager) Addr(name string) (netip.AddrPort, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.listeners[name]
	if a == nil {
		return netip.AddrPort{}, false
	}
	return a.bound, true
}

// sortedNames returns the listener names in order; m.mu is held.
func (m *Manager) sortedNames() []string {
	names := make([]string, 0, len(m.listeners))
	for n := range m.listeners {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (m *Manager) track(c net.Conn) bool {
	m.connsMu.Lock()
	defer m.connsMu.Unlock()
	if m.ctx.Err() != nil {
		return false
	}
	m.conns[c] = struct{}{}
	m.st.totalConnections.Inc()
	return true
}

func (m *Manager) untrack(c net.Conn) {
	m.connsMu.Lock()
	delete(m.conns, c)
	m.connsMu.Unlock()
	m.st.totalConnections.Dec()
}

// Check translates pbs as Apply would, reporting every error with its
// path, without opening a socket or changing anything (--validate).
func Check(pbs []*listenerv3.Listener, env *Env, p config.Path) error {
	_, err := translateAll(pbs, env, p)
	return err
}

func translateAll(pbs []*listenerv3.Listener, env *Env, p config.Path) ([]*listenerConfig, error) {
	var errs config.Errors
	cfgs := make([]*listenerConfig, len(pbs))
	names := map[string]int{}
	addrs := map[netip.AddrPort]int{}
	for i, pb := range pbs {
		lp := p.Index(i)
		cfgs[i] = translate(pb, env, lp, &errs)
		if j, dup := names[cfgs[i].name]; dup && cfgs[i].name != "" {
			errs.Addf(lp.Field("name"), "listener: name %q is already used by listeners[%d]", cfgs[i].name, j)
		}
		names[cfgs[i].name] = i
		if a := cfgs[i].addr; a.IsValid() && a.Port() != 0 {
			if j, dup := addrs[a]; dup {
				errs.Addf(lp.Field("address"), "listener: address %s is already used by listeners[%d]", a, j)
			}
			addrs[a] = i
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return cfgs, nil
}
