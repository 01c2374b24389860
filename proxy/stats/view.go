package stats

import (
	"sort"
	"strings"
)

// sorted is a cached, sorted view of the store, valid while no stat is
// created (gen unchanged). Its size grows with the number of named stats
// and of blocks, not with the stats blocks hold.
type sorted struct {
	gen        uint64
	counters   []*Counter   // named, by flat name
	gauges     []*Gauge     // named, by flat name
	histograms []*Histogram // named, by flat name
	blocks     []*block     // by prefix
	// prom are the Prometheus families: counters, then gauges, then
	// histograms, each kind by family name.
	prom []*promFamily
}

// promFamily is one Prometheus metric family: the named stats in it and
// the columns of blocks whose entry falls in it.
type promFamily struct {
	name  string // "envoy_cluster_upstream_rq_total"
	kind  Type
	named []promEntry // by flat name
	cols  []promColumn
}

// promEntry is one named series; exactly one of the pointers is set.
type promEntry struct {
	expo *exposition
	c    *Counter
	g    *Gauge
	h    *Histogram
}

func (e *promEntry) name() string {
	switch {
	case e.c != nil:
		return e.c.Name
	case e.g != nil:
		return e.g.Name
	default:
		return e.h.Name
	}
}

// promColumn is one entry of the blocks that share a schema and a
// Prometheus prefix: a series per block.
type promColumn struct {
	blocks []*block // by prefix
	entry  []int    // the one entry index, as a slice for blockWalk
}

// view returns the sorted view, rebuilding it when stats were created since
// the last call. The store's mutex is held only to copy pointers.
func (s *Store) view() *sorted {
	s.mu.Lock()
	if v := s.sorted.Load(); v != nil && v.gen == s.gen {
		s.mu.Unlock()
		return v
	}
	v := &sorted{
		gen:        s.gen,
		counters:   make([]*Counter, 0, len(s.counters)),
		gauges:     make([]*Gauge, 0, len(s.gauges)),
		histograms: make([]*Histogram, 0, len(s.histograms)),
		blocks:     make([]*block, 0, len(s.blocks)),
	}
	for _, c := range s.counters {
		v.counters = append(v.counters, c)
	}
	for _, g := range s.gauges {
		v.gauges = append(v.gauges, g)
	}
	for _, h := range s.histograms {
		v.histograms = append(v.histograms, h)
	}
	for _, b := range s.blocks {
		for ; b != nil; b = b.next {
			v.blocks = append(v.blocks, b)
		}
	}
	s.mu.Unlock()

	sort.Slice(v.counters, func(i, j int) bool { return v.counters[i].Name < v.counters[j].Name })
	sort.Slice(v.gauges, func(i, j int) bool { return v.gauges[i].Name < v.gauges[j].Name })
	sort.Slice(v.histograms, func(i, j int) bool { return v.histograms[i].Name < v.histograms[j].Name })
	sort.SliceStable(v.blocks, func(i, j int) bool { return v.blocks[i].scope.prefix < v.blocks[j].scope.prefix })
	v.prom = promFamilies(v)

	// Keep the newest view: a slower rebuild of an older generation must
	// not replace a newer one.
	for {
		old := s.sorted.Load()
		if old != nil && old.gen >= v.gen {
			return v
		}
		if s.sorted.CompareAndSwap(old, v) {
			return v
		}
	}
}

// promFamilies groups the view's stats into Prometheus families in
// Envoy's order: counters, then gauges, then histograms; within a type,
// families by name; within a family, series by flat name.
func promFamilies(v *sorted) []*promFamily {
	type key struct {
		kind Type
		name string
	}
	fams := map[key]*promFamily{}
	family := func(kind Type, name string) *promFamily {
		f := fams[key{kind, name}]
		if f == nil {
			f = &promFamily{name: name, kind: kind}
			fams[key{kind, name}] = f
		}
		return f
	}
	for _, c := range v.counters {
		f := family(Counters, c.expo.family)
		f.named = append(f.named, promEntry{expo: &c.expo, c: c})
	}
	for _, g := range v.gauges {
		f := family(Gauges, g.expo.family)
		f.named = append(f.named, promEntry{expo: &g.expo, g: g})
	}
	for _, h := range v.histograms {
		f := family(Histograms, h.expo.family)
		f.named = append(f.named, promEntry{expo: &h.expo, h: h})
	}

	// Blocks of one schema and Prometheus prefix (every cluster) share
	// their families: one column per entry, listing the blocks.
	type colKey struct {
		schema     *schema
		promPrefix string
	}
	var order []colKey
	groups := map[colKey][]*block{}
	for _, b := range v.blocks {
		k := colKey{b.schema, b.scope.promPrefix}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], b)
	}
	for _, k := range order {
		for i, e := range k.schema.entries {
			f := family(e.kind, "envoy_"+promSanitize(k.promPrefix+e.name))
			f.cols = append(f.cols, promColumn{blocks: groups[k], entry: []int{i}})
		}
	}

	out := make([]*promFamily, 0, len(fams))
	for _, f := range fams {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].kind != out[j].kind {
			return out[i].kind < out[j].kind
		}
		return out[i].name < out[j].name
	})
	return out
}

// cmpConcat compares a1+a2 with b1+b2 without building either.
func cmpConcat(a1, a2, b1, b2 string) int {
	for {
		if a1 == "" {
			a1, a2 = a2, ""
		}
		if b1 == "" {
			b1, b2 = b2, ""
		}
		if a1 == "" || b1 == "" {
			switch {
			case a1 == "" && b1 == "":
				return 0
			case a1 == "":
				return -1
			default:
				return 1
			}
		}
		n := min(len(a1), len(b1))
		if c := strings.Compare(a1[:n], b1[:n]); c != 0 {
			return c
		}
		a1, b1 = a1[n:], b1[n:]
	}
}
