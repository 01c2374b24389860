// Package stats is the proxy's stats store: counters, gauges and histograms
// named as Envoy names them ("cluster.backend.upstream_rq_total"), each
// also carrying the Prometheus name and labels Envoy's tag extraction
// gives it (envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"}).
//
// Stats are created when configuration is translated, never on the request
// path; the hot path only increments. Creating a stat that already exists
// returns the existing one, so counters survive a config reload.
//
// Use the scope constructors (ClusterScope, HTTPScope, ListenerScope,
// TCPScope, ServerScope) rather than building names by hand: they produce
// Envoy's flat names and the exact Prometheus names and labels Envoy's
// dashboards query. StatusCounters handles the code-keyed
// upstream_rq_<code> / upstream_rq_<class>xx families.
package stats

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Tag is one Prometheus label extracted from a stat name.
type Tag struct {
	Name, Value string
}

// Store holds every stat of the process: named stats, each with its
// identity, and blocks (NewBlock), which keep values only.
type Store struct {
	mu         sync.Mutex
	counters   map[string]*Counter
	gauges     map[string]*Gauge
	histograms map[string]*Histogram
	blocks     map[string]*block // by scope prefix; chained by block.next
	// views are named stats whose value lives in a block (they are listed
	// through the block, not as named stats).
	views    map[viewKey]any
	interned map[string]string
	gen      uint64                 // bumped under mu whenever a stat is created
	sorted   atomic.Pointer[sorted] // exposition's cached sorted view, valid for one gen
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		counters:   map[string]*Counter{},
		gauges:     map[string]*Gauge{},
		histograms: map[string]*Histogram{},
		blocks:     map[string]*block{},
		views:      map[viewKey]any{},
		interned:   map[string]string{},
	}
}

// Meta is the identity of a stat.
type Meta struct {
	Name     string // Envoy's flat name
	PromName string // Prometheus metric name without the "envoy_" prefix or labels, dots allowed
	Tags     []Tag  // labels, in the order Envoy prints them
}

// Scope creates stats under a common name prefix and common tags.
type Scope struct {
	store      *Store
	prefix     string // flat prefix, "" or ending in "."
	promPrefix string // prom prefix, "" or ending in "."
	tags       []Tag  // innermost scope's tags first, as Envoy's tag extraction orders them
}

// Root is the scope with no prefix.
func (s *Store) Root() Scope { return Scope{store: s} }

// Scope returns a child scope. Its flat prefix is name followed by the value
// of each tag ("cluster" + {envoy_cluster_name backend} gives "cluster.backend.");
// its Prometheus prefix is name alone, and the tags become labels.
func (sc Scope) Scope(name string, tags ...Tag) Scope {
	child := Scope{store: sc.store, prefix: sc.prefix, promPrefix: sc.promPrefix}
	if name != "" {
		// Every cluster scope has the same Prometheus prefix: shared,
		// and looked up without making it again.
		var buf [64]byte
		child.promPrefix = sc.store.internBytes(append(append(append(buf[:0], sc.promPrefix...), name...), '.'))
	}
	// The flat prefix in one allocation: a cluster scope's would
	// otherwise leave "cluster." behind, a small piece of garbage among
	// the objects a cluster keeps.
	n := len(sc.prefix)
	if name != "" {
		n += len(name) + 1
	}
	for _, t := range tags {
		n += len(t.Value) + 1
	}
	if n > len(sc.prefix) {
		var b strings.Builder
		b.Grow(n)
		b.WriteString(sc.prefix)
		if name != "" {
			b.WriteString(name)
			b.WriteByte('.')
		}
		for _, t := range tags {
			b.WriteString(t.Value)
			b.WriteByte('.')
		}
		child.prefix = b.String()
	}
	child.tags = append(append([]Tag(nil), tags...), sc.tags...)
	return child
}

// Prefix is the flat name prefix of the scope.
func (sc Scope) Prefix() string { return sc.prefix }

// Store is the store the scope creates stats in.
func (sc Scope) Store() *Store { return sc.store }

// meta names a stat of the scope. Extra tags come first: Envoy extracts
// suffix tags (response code, class) before prefix tags (cluster name).
func (sc Scope) meta(name string, promName string, tags []Tag) Meta {
	all := sc.tags
	if len(tags) > 0 {
		all = append(append([]Tag(nil), tags...), sc.tags...)
	}
	return Meta{Name: sc.prefix + name, PromName: sc.promPrefix + promName, Tags: all}
}

// Counter returns the counter named name in the scope.
func (sc Scope) Counter(name string) *Counter { return sc.CounterAs(name, name) }

// CounterAs returns a counter whose flat name is name and whose Prometheus
// name is promName with extra labels, for stats whose name embeds a value
// ("upstream_rq_503" is upstream_rq{envoy_response_code="503"}).
func (sc Scope) CounterAs(name, promName string, tags ...Tag) *Counter {
	m := sc.meta(name, promName, tags)
	st := sc.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if c, ok := st.counters[m.Name]; ok {
		return c
	}
	if v, ok := st.views[viewKey{m.Name, Counters}]; ok {
		return v.(*Counter)
	}
	c := &Counter{}
	c.cell.Store(&c.own)
	if b, i := st.findBlock(m.Name, Counters); b != nil {
		c.Meta = b.meta(i)
		c.expo = newExposition(c.Meta)
		c.cell.Store(b.counterCell(&b.schema.entries[i]))
		st.views[viewKey{m.Name, Counters}] = c
		return c
	}
	c.Meta, c.expo = m, newExposition(m)
	st.counters[m.Name] = c
	st.gen++
	return c
}

// Gauge returns the gauge named name in the scope.
func (sc Scope) Gauge(name string) *Gauge { return sc.GaugeAs(name, name) }

// GaugeAs is Gauge with an explicit Prometheus name and extra labels.
func (sc Scope) GaugeAs(name, promName string, tags ...Tag) *Gauge {
	m := sc.meta(name, promName, tags)
	st := sc.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if g, ok := st.gauges[m.Name]; ok {
		return g
	}
	if v, ok := st.views[viewKey{m.Name, Gauges}]; ok {
		return v.(*Gauge)
	}
	g := &Gauge{}
	g.cell.Store(&g.own)
	if b, i := st.findBlock(m.Name, Gauges); b != nil {
		g.Meta = b.meta(i)
		g.expo = newExposition(g.Meta)
		g.cell.Store(b.gaugeCell(&b.schema.entries[i]))
		st.views[viewKey{m.Name, Gauges}] = g
		return g
	}
	g.Meta, g.expo = m, newExposition(m)
	st.gauges[m.Name] = g
	st.gen++
	return g
}

// Histogram returns the histogram named name in the scope. Values are
// recorded in the histogram's unit (milliseconds for Envoy's *_time stats).
func (sc Scope) Histogram(name string) *Histogram { return sc.HistogramAs(name, name) }

// HistogramAs is Histogram with an explicit Prometheus name and extra labels.
func (sc Scope) HistogramAs(name, promName string, tags ...Tag) *Histogram {
	m := sc.meta(name, promName, tags)
	st := sc.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if h, ok := st.histograms[m.Name]; ok {
		return h
	}
	if v, ok := st.views[viewKey{m.Name, Histograms}]; ok {
		return v.(*Histogram)
	}
	if b, i := st.findBlock(m.Name, Histograms); b != nil {
		h := newHistogram(b.meta(i))
		h.cell.Store(b.histogramCell(&b.schema.entries[i]))
		st.views[viewKey{m.Name, Histograms}] = h
		return h
	}
	h := newHistogram(m)
	st.histograms[m.Name] = h
	st.gen++
	return h
}

// Counter is a named counter: it only goes up.
type Counter struct {
	// cell holds the value: own, or a block's when the name belongs to
	// one (see NewBlock). First, so that an increment touches one cache
	// line.
	cell atomic.Pointer[BlockCounter]
	own  BlockCounter
	used atomic.Bool // set by ResetCounters, so a reset counter stays listed by ?usedonly
	Meta
	expo exposition
}

func (c *Counter) Inc()          { c.cell.Load().Inc() }
func (c *Counter) Add(n uint64)  { c.cell.Load().Add(n) }
func (c *Counter) Value() uint64 { return c.cell.Load().Value() }

// Used reports whether the counter ever moved (Envoy's ?usedonly).
func (c *Counter) Used() bool { return c.Value() != 0 || c.used.Load() }

// Gauge is a named gauge: it goes up and down.
type Gauge struct {
	// cell holds the value: own, or a block's (see Counter).
	cell atomic.Pointer[BlockGauge]
	own  BlockGauge
	Meta
	expo exposition
}

func (g *Gauge) Inc()         { g.cell.Load().Inc() }
func (g *Gauge) Dec()         { g.cell.Load().Dec() }
func (g *Gauge) Add(n int64)  { g.cell.Load().Add(n) }
func (g *Gauge) Set(n int64)  { g.cell.Load().Set(n) }
func (g *Gauge) Value() int64 { return g.cell.Load().Value() }

// Used reports whether the gauge was ever written (Envoy's ?usedonly).
func (g *Gauge) Used() bool { return g.cell.Load().Used() }

// ResetCounters sets every counter to zero (POST /reset_counters), as
// Envoy does; counters stay "used".
func (s *Store) ResetCounters() {
	v := s.view()
	for _, c := range v.counters {
		if c.cell.Load().v.Swap(0) != 0 {
			c.used.Store(true)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range v.blocks {
		var reset []bool
		if r := b.reset.Load(); r != nil {
			reset = *r
		}
		for _, i := range b.schema.counters {
			c := b.counter(&b.schema.entries[i])
			if c == nil || c.v.Swap(0) == 0 {
				continue
			}
			if reset == nil {
				reset = make([]bool, len(b.schema.entries))
				b.reset.Store(&reset)
			}
			reset[i] = true
		}
	}
}

// Each calls the functions for every stat, sorted by flat name. The store's
// mutex is held only to notice new stats; the sorted view is cached. Stats
// of blocks are passed as views made for the call: reading and writing
// them works, keeping them does not keep them up to date with a later
// adoption.
func (s *Store) Each(counter func(*Counter), gauge func(*Gauge), hist func(*Histogram)) {
	v := s.view()
	if counter != nil {
		eachMerged(v.counters, v.blocks, Counters, func(c *Counter) { counter(c) }, func(b *block, i int) {
			c := &Counter{Meta: b.meta(i)}
			c.expo = newExposition(c.Meta)
			c.cell.Store(b.counterCell(&b.schema.entries[i]))
			counter(c)
		})
	}
	if gauge != nil {
		eachMerged(v.gauges, v.blocks, Gauges, func(g *Gauge) { gauge(g) }, func(b *block, i int) {
			g := &Gauge{Meta: b.meta(i)}
			g.expo = newExposition(g.Meta)
			g.cell.Store(b.gaugeCell(&b.schema.entries[i]))
			gauge(g)
		})
	}
	if hist != nil {
		eachMerged(v.histograms, v.blocks, Histograms, func(h *Histogram) { hist(h) }, func(b *block, i int) {
			h := newHistogram(b.meta(i))
			h.cell.Store(b.histogramCell(&b.schema.entries[i]))
			hist(h)
		})
	}
}
