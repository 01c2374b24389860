package stats

import (
	"sort"
	"strings"
)

// exposition is a stat's Prometheus identity, computed once at creation so
// that a scrape only copies bytes.
type exposition struct {
	family string // "envoy_cluster_upstream_rq_total"
	labels string // `envoy_cluster_name="backend"`, escaped, without braces
}

func newExposition(m Meta) exposition {
	var b strings.Builder
	for i, t := range m.Tags {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(promSanitize(t.Name))
		b.WriteString(`="`)
		b.WriteString(escapeLabelValue(t.Value))
		b.WriteByte('"')
	}
	return exposition{family: m.FullPromName(), labels: b.String()}
}

// FullPromName returns the full Prometheus metric name of m: "envoy_" and
// the prom name with every character Prometheus does not allow in a name
// turned into an underscore, as Envoy's exposition does.
func (m Meta) FullPromName() string {
	return "envoy_" + promSanitize(m.PromName)
}

func promSanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// escapeLabelValue escapes a label value as the Prometheus text format
// requires: backslash, double quote and newline.
func escapeLabelValue(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// sorted is a cached, sorted view of the store, valid while no stat is
// created (gen unchanged).
type sorted struct {
	gen        uint64
	counters   []*Counter
	gauges     []*Gauge
	histograms []*Histogram
	prom       []promEntry // every stat in Prometheus output order
}

// promEntry is one series of the Prometheus output; exactly one of the
// pointers is set.
type promEntry struct {
	expo *exposition
	c    *Counter
	g    *Gauge
	h    *Histogram
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
	s.mu.Unlock()

	sort.Slice(v.counters, func(i, j int) bool { return v.counters[i].Name < v.counters[j].Name })
	sort.Slice(v.gauges, func(i, j int) bool { return v.gauges[i].Name < v.gauges[j].Name })
	sort.Slice(v.histograms, func(i, j int) bool { return v.histograms[i].Name < v.histograms[j].Name })

	// Envoy's order: counters, then gauges, then histograms; within a type,
	// families by name; within a family, series by flat name.
	v.prom = make([]promEntry, 0, len(v.counters)+len(v.gauges)+len(v.histograms))
	for _, c := range v.counters {
		v.prom = append(v.prom, promEntry{expo: &c.expo, c: c})
	}
	sortFamilies(v.prom)
	n := len(v.prom)
	for _, g := range v.gauges {
		v.prom = append(v.prom, promEntry{expo: &g.expo, g: g})
	}
	sortFamilies(v.prom[n:])
	n = len(v.prom)
	for _, h := range v.histograms {
		v.prom = append(v.prom, promEntry{expo: &h.expo, h: h})
	}
	sortFamilies(v.prom[n:])

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

// sortFamilies orders entries of one type by family; the input is already
// sorted by flat name, which the stable sort keeps within a family.
func sortFamilies(es []promEntry) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].expo.family < es[j].expo.family })
}
