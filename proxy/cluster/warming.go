package cluster

import "maps"

// Warming: as Envoy does, a cluster that a reload changes takes traffic
// only once it is warm (a DNS cluster after its first resolution attempt,
// failed or not: see resolveLoop). Until
// then the cluster it replaces keeps serving, so a reload fails no
// request for want of endpoints. A warming cluster that a later update
// changes again, or removes, is dropped.

// warm keeps c, which replaces a serving cluster of the same name, aside
// until it is warm. m.mu is held.
func (m *Manager) warm(c *Cluster) {
	if m.warming == nil {
		m.warming = map[string]*Cluster{}
	}
	m.warming[c.s.name] = c
	go m.promote(c)
}

// promote publishes c once it is warm, unless it was dropped meanwhile,
// and stops the cluster it replaces.
func (m *Manager) promote(c *Cluster) {
	select {
	case <-c.warm:
	case <-c.disc.ctx.Done():
		return
	}
	m.mu.Lock()
	if m.warming[c.s.name] != c {
		m.mu.Unlock()
		return
	}
	delete(m.warming, c.s.name)
	cur := *m.clusters.Load()
	prev := cur[c.s.name]
	next := maps.Clone(cur)
	next[c.s.name] = c
	m.clusters.Store(&next)
	m.mu.Unlock()
	if prev != nil {
		prev.stop()
	}
}

// dropWarming stops the cluster warming under name, if any. m.mu is held.
func (m *Manager) dropWarming(name string) {
	if c := m.warming[name]; c != nil {
		delete(m.warming, name)
		c.stop()
	}
}
