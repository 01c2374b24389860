// Package stats is the proxy's stats store: counters, gauges and histograms
// named as Envoy names them ("cluster.backend.upstream_rq_total"), each
// also carrying the Prometheus name and labels Envoy's tag extraction
// gives it (envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"}).
//
// Stats are created when configuration is translated, never on the request
// path; the hot path only increments. Creating a stat that already exists
// returns the existing one, so counters survive a config reload.
package stats

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Tag is one Prometheus label extracted from a stat name.
type Tag struct {
	Name, Value string
}

// Store holds every stat of the process.
type Store struct {
	mu         sync.Mutex
	counters   map[string]*Counter
	gauges     map[string]*Gauge
	histograms map[string]*Histogram
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		counters:   map[string]*Counter{},
		gauges:     map[string]*Gauge{},
		histograms: map[string]*Histogram{},
	}
}

// Meta is the identity of a stat.
type Meta struct {
	Name     string // Envoy's flat name
	PromName string // Prometheus metric name without the "envoy_" prefix or labels, dots allowed
	Tags     []Tag  // labels
}

// Scope creates stats under a common name prefix and common tags.
type Scope struct {
	store      *Store
	prefix     string // flat prefix, "" or ending in "."
	promPrefix string // prom prefix, "" or ending in "."
	tags       []Tag
}

// Root is the scope with no prefix.
func (s *Store) Root() Scope { return Scope{store: s} }

// Scope returns a child scope. Its flat prefix is name followed by the value
// of each tag ("cluster" + {envoy_cluster_name backend} gives "cluster.backend.");
// its Prometheus prefix is name alone, and the tags become labels.
func (sc Scope) Scope(name string, tags ...Tag) Scope {
	child := Scope{store: sc.store, prefix: sc.prefix, promPrefix: sc.promPrefix}
	if name != "" {
		child.prefix += name + "."
		child.promPrefix += name + "."
	}
	for _, t := range tags {
		child.prefix += t.Value + "."
	}
	child.tags = append(append([]Tag(nil), sc.tags...), tags...)
	return child
}

// Prefix is the flat name prefix of the scope.
func (sc Scope) Prefix() string { return sc.prefix }

func (sc Scope) meta(name string, promName string, tags []Tag) Meta {
	all := sc.tags
	if len(tags) > 0 {
		all = append(append([]Tag(nil), sc.tags...), tags...)
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
	c := &Counter{Meta: m}
	st.counters[m.Name] = c
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
	g := &Gauge{Meta: m}
	st.gauges[m.Name] = g
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
	h := newHistogram(m)
	st.histograms[m.Name] = h
	return h
}

// Counter only goes up.
type Counter struct {
	Meta
	v atomic.Uint64
}

func (c *Counter) Inc()          { c.v.Add(1) }
func (c *Counter) Add(n uint64)  { c.v.Add(n) }
func (c *Counter) Value() uint64 { return c.v.Load() }

// Gauge goes up and down.
type Gauge struct {
	Meta
	v atomic.Int64
}

func (g *Gauge) Inc()         { g.v.Add(1) }
func (g *Gauge) Dec()         { g.v.Add(-1) }
func (g *Gauge) Add(n int64)  { g.v.Add(n) }
func (g *Gauge) Set(n int64)  { g.v.Store(n) }
func (g *Gauge) Value() int64 { return g.v.Load() }

// DefaultBuckets are Envoy's default histogram bucket bounds.
var DefaultBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// Histogram counts recorded values in DefaultBuckets.
type Histogram struct {
	Meta
	counts []atomic.Uint64 // counts[i]: values <= DefaultBuckets[i]; last: +Inf
	sum    atomic.Uint64   // sum of recorded values
	count  atomic.Uint64
}

func newHistogram(m Meta) *Histogram {
	return &Histogram{Meta: m, counts: make([]atomic.Uint64, len(DefaultBuckets)+1)}
}

// Record adds one value.
func (h *Histogram) Record(v uint64) {
	i := sort.SearchFloat64s(DefaultBuckets, float64(v))
	h.counts[i].Add(1)
	h.sum.Add(v)
	h.count.Add(1)
}

// Snapshot returns cumulative bucket counts (one per DefaultBuckets bound,
// then +Inf), the sum and the count.
func (h *Histogram) Snapshot() (cumulative []uint64, sum, count uint64) {
	cumulative = make([]uint64, len(h.counts))
	var run uint64
	for i := range h.counts {
		run += h.counts[i].Load()
		cumulative[i] = run
	}
	return cumulative, h.sum.Load(), h.count.Load()
}

// Each calls the functions for every stat, sorted by flat name.
func (s *Store) Each(counter func(*Counter), gauge func(*Gauge), hist func(*Histogram)) {
	s.mu.Lock()
	cs := make([]*Counter, 0, len(s.counters))
	for _, c := range s.counters {
		cs = append(cs, c)
	}
	gs := make([]*Gauge, 0, len(s.gauges))
	for _, g := range s.gauges {
		gs = append(gs, g)
	}
	hs := make([]*Histogram, 0, len(s.histograms))
	for _, h := range s.histograms {
		hs = append(hs, h)
	}
	s.mu.Unlock()
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	sort.Slice(gs, func(i, j int) bool { return gs[i].Name < gs[j].Name })
	sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
	for _, c := range cs {
		if counter != nil {
			counter(c)
		}
	}
	for _, g := range gs {
		if gauge != nil {
			gauge(g)
		}
	}
	for _, h := range hs {
		if hist != nil {
			hist(h)
		}
	}
}

// PromName returns the full Prometheus metric name of m: "envoy_" and the
// prom name with dots and dashes turned into underscores.
func (m Meta) FullPromName() string {
	return "envoy_" + strings.NewReplacer(".", "_", "-", "_").Replace(m.PromName)
}
