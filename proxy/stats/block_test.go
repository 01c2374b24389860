package stats

import (
	"bytes"
	"io"
	"regexp"
	"testing"
)

type breakerStats struct {
	CxOpen BlockGauge `stats:"circuit_breakers.default.cx_open"`
}

// testBlock mixes every kind, a nested struct and names that sort around
// the named stats a cluster also has (upstream_rq_200, upstream_rq_2xx).
type testBlock struct {
	breakerStats
	RqTotal   BlockCounter   `stats:"upstream_rq_total"`
	RqActive  BlockGauge     `stats:"upstream_rq_active"`
	CxTotal   BlockCounter   `stats:"upstream_cx_total"`
	LbPanic   BlockCounter   `stats:"lb_healthy_panic"`
	RqTime    BlockHistogram `stats:"upstream_rq_time"`
	CxLength  BlockHistogram `stats:"upstream_cx_length_ms"`
	Members   BlockGauge     `stats:"membership_total"`
	Zz        BlockCounter   `stats:"zz_last"`
	FirstStat BlockCounter   `stats:"aa_first"`
}

// blockNames lists testBlock's stats as named-stat constructors would
// create them.
func namedLikeTestBlock(sc Scope) {
	sc.Gauge("circuit_breakers.default.cx_open")
	for _, n := range []string{"upstream_rq_total", "upstream_cx_total", "lb_healthy_panic", "zz_last", "aa_first"} {
		sc.Counter(n)
	}
	sc.Gauge("upstream_rq_active")
	sc.Gauge("membership_total")
	sc.Histogram("upstream_rq_time")
	sc.Histogram("upstream_cx_length_ms")
}

// exerciseStore builds a mesh of clusters whose names nest ("a", "a.b",
// "a.lb", "a.zz") plus other named stats, with each cluster's stats
// created by mk, and moves some values.
func exerciseStore(mk func(Scope) func(rq, active, members int64, rqTime uint64)) *Store {
	st := NewStore()
	HTTPScope(st, "ingress").Counter("downstream_rq_total").Add(4)
	ServerScope(st).Gauge("live").Set(1)
	for i, name := range []string{"a", "a.b", "a.lb", "a.zz", "b", `we"ird\name`} {
		sc := ClusterScope(st, name)
		move := mk(sc)
		if i%2 == 0 {
			move(int64(i+1), int64(i), 1, uint64(10*i))
			rq := NewStatusCounters(sc, "upstream_rq")
			rq.Record(200)
			rq.Record(503)
		}
	}
	return st
}

func TestABlockIsListedExactlyAsTheSameNamedStats(t *testing.T) {
	named := exerciseStore(func(sc Scope) func(int64, int64, int64, uint64) {
		namedLikeTestBlock(sc)
		return func(rq, active, members int64, rqTime uint64) {
			sc.Counter("upstream_rq_total").Add(uint64(rq))
			sc.Gauge("upstream_rq_active").Set(active)
			sc.Gauge("membership_total").Set(members)
			sc.Histogram("upstream_rq_time").Record(rqTime)
		}
	})
	blocks := exerciseStore(func(sc Scope) func(int64, int64, int64, uint64) {
		b := NewBlock[testBlock](sc)
		return func(rq, active, members int64, rqTime uint64) {
			b.RqTotal.Add(uint64(rq))
			b.RqActive.Set(active)
			b.Members.Set(members)
			b.RqTime.Record(rqTime)
		}
	})
	named.Flush()
	blocks.Flush()
	formats := []struct {
		name  string
		write func(*Store, io.Writer, Query) error
	}{
		{name: "envoy text", write: (*Store).WriteText},
		{name: "envoy json", write: (*Store).WriteJSON},
		{name: "prometheus", write: (*Store).WritePrometheus},
	}
	queries := []struct {
		name  string
		query Query
	}{
		{name: "everything"},
		{name: "used only", query: Query{UsedOnly: true}},
		{name: "filtered", query: Query{Filter: regexp.MustCompile(`a\.b|rq_t`)}},
		{name: "gauges", query: Query{Type: Gauges}},
		{name: "histograms", query: Query{Type: Histograms}},
	}
	for _, f := range formats {
		for _, q := range queries {
			t.Run(f.name+" of "+q.name, func(t *testing.T) {
				var want, got bytes.Buffer
				if err := f.write(named, &want, q.query); err != nil {
					t.Fatal(err)
				}
				if err := f.write(blocks, &got, q.query); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), want.Bytes()) {
					t.Errorf("blocks listed\n%s\nnamed stats listed\n%s", got.String(), want.String())
				}
			})
		}
	}
}

func TestEachListsBlockStatsWithTheirNames(t *testing.T) {
	st := NewStore()
	b := NewBlock[testBlock](ClusterScope(st, "backend"))
	b.RqTotal.Add(3)
	ClusterScope(st, "backend").Counter("upstream_rq_200").Inc()
	var names []string
	var total uint64
	st.Each(func(c *Counter) {
		names = append(names, c.Name)
		if c.Name == "cluster.backend.upstream_rq_total" {
			total = c.Value()
		}
	}, nil, nil)
	want := []string{"cluster.backend.aa_first", "cluster.backend.lb_healthy_panic", "cluster.backend.upstream_cx_total",
		"cluster.backend.upstream_rq_200", "cluster.backend.upstream_rq_total", "cluster.backend.zz_last"}
	if len(names) != len(want) {
		t.Fatalf("counters = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("counters = %v, want %v", names, want)
		}
	}
	if total != 3 {
		t.Errorf("upstream_rq_total = %d, want 3", total)
	}
}

func TestNewBlockTwiceReturnsTheSameBlock(t *testing.T) {
	st := NewStore()
	a := NewBlock[testBlock](ClusterScope(st, "backend"))
	a.RqTotal.Inc()
	b := NewBlock[testBlock](ClusterScope(st, "backend"))
	if a != b || b.RqTotal.Value() != 1 {
		t.Fatalf("second NewBlock returned %p (upstream_rq_total %d), want %p", b, b.RqTotal.Value(), a)
	}
	if c := NewBlock[breakerStats](ClusterScope(st, "backend")); c == &a.breakerStats {
		t.Fatal("a block of another type under the same scope shares the first one's values")
	}
}

func TestANamedLookupOfABlockStatIsAViewOfIt(t *testing.T) {
	st := NewStore()
	b := NewBlock[testBlock](ClusterScope(st, "backend"))
	b.RqTotal.Add(2)
	b.CxOpen.Set(5)
	b.RqTime.Record(7)
	sc := ClusterScope(st, "backend")
	c := sc.Counter("upstream_rq_total")
	g := sc.Scope("circuit_breakers").Scope("default").Gauge("cx_open")
	h := sc.Histogram("upstream_rq_time")
	if c.Value() != 2 || g.Value() != 5 || !h.Used() {
		t.Errorf("views read %d %d %v, want 2 5 true", c.Value(), g.Value(), h.Used())
	}
	c.Inc()
	g.Dec()
	if b.RqTotal.Value() != 3 || b.CxOpen.Value() != 4 {
		t.Errorf("writes through views left the block at %d %d, want 3 4", b.RqTotal.Value(), b.CxOpen.Value())
	}
	if c.Name != "cluster.backend.upstream_rq_total" || c.expo.labels != `envoy_cluster_name="backend"` {
		t.Errorf("view is named %q {%s}", c.Name, c.expo.labels)
	}
	if again := sc.Counter("upstream_rq_total"); again != c {
		t.Error("a second lookup made another view")
	}
	if n := countLines(t, st, "cluster.backend.upstream_rq_total"); n != 1 {
		t.Errorf("/stats lists upstream_rq_total %d times, want once", n)
	}
}

func TestABlockTakesOverNamedStatsCreatedBeforeIt(t *testing.T) {
	st := NewStore()
	sc := ClusterScope(st, "backend")
	c := sc.Counter("upstream_rq_total")
	c.Add(4)
	g := sc.Gauge("membership_total")
	g.Set(2)
	h := sc.Histogram("upstream_rq_time")
	h.Record(3)
	b := NewBlock[testBlock](sc)
	if b.RqTotal.Value() != 4 || b.Members.Value() != 2 || !b.RqTime.Used() {
		t.Errorf("block took over %d %d %v, want 4 2 true", b.RqTotal.Value(), b.Members.Value(), b.RqTime.Used())
	}
	c.Inc()
	if b.RqTotal.Value() != 5 {
		t.Errorf("the earlier counter no longer counts into the block: %d, want 5", b.RqTotal.Value())
	}
	if again := sc.Counter("upstream_rq_total"); again != c {
		t.Error("a lookup after the takeover returned another counter")
	}
	for _, name := range []string{"cluster.backend.upstream_rq_total", "cluster.backend.membership_total", "cluster.backend.upstream_rq_time"} {
		if n := countLines(t, st, name); n != 1 {
			t.Errorf("/stats lists %s %d times, want once", name, n)
		}
	}
}

func TestResetCountersZeroesBlockCountersButKeepsThemUsed(t *testing.T) {
	st := NewStore()
	b := NewBlock[testBlock](ClusterScope(st, "backend"))
	b.RqTotal.Add(5)
	st.ResetCounters()
	if b.RqTotal.Value() != 0 {
		t.Errorf("upstream_rq_total = %d after reset, want 0", b.RqTotal.Value())
	}
	var out bytes.Buffer
	if err := st.WriteText(&out, Query{UsedOnly: true}); err != nil {
		t.Fatal(err)
	}
	if want := "cluster.backend.upstream_rq_total: 0\n"; out.String() != want {
		t.Errorf("used stats after reset:\n%s\nwant\n%s", out.String(), want)
	}
}

func TestABlockHistogramAllocatesOnlyWithItsFirstValue(t *testing.T) {
	st := NewStore()
	b := NewBlock[testBlock](ClusterScope(st, "backend"))
	if b.RqTime.d.Load() != nil {
		t.Fatal("a histogram without values holds buckets")
	}
	if n := testing.AllocsPerRun(100, func() { b.RqTime.Record(12) }); n != 0 {
		t.Errorf("Record allocates %v times after the first value, want 0", n)
	}
	cum, sum, count := b.RqTime.Snapshot()
	if count != 101 || sum != 12*101 || cum[bucket(12)] != 101 {
		t.Errorf("snapshot count=%d sum=%d, want 101 %d", count, sum, 12*101)
	}
}

func TestMalformedBlockTypesPanic(t *testing.T) {
	type untagged struct{ C BlockCounter }
	type foreign struct {
		C BlockCounter `stats:"c"`
		N int
	}
	type twice struct {
		A BlockCounter `stats:"c"`
		B BlockGauge   `stats:"c"`
	}
	tests := []struct {
		name string
		make func(Scope)
	}{
		{name: "a stat without a name", make: func(sc Scope) { NewBlock[untagged](sc) }},
		{name: "a field that is not a stat", make: func(sc Scope) { NewBlock[foreign](sc) }},
		{name: "a name used twice", make: func(sc Scope) { NewBlock[twice](sc) }},
		{name: "not a struct", make: func(sc Scope) { NewBlock[int](sc) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewBlock accepted it")
				}
			}()
			tt.make(NewStore().Root())
		})
	}
}

func TestCmpConcatComparesAsIfJoined(t *testing.T) {
	parts := []string{"", "a", "a.", "a.b", "ab", "b", "cluster.a.", "cluster.a.b.", "x", "upstream"}
	for _, a1 := range parts {
		for _, a2 := range parts {
			for _, b1 := range parts {
				for _, b2 := range parts {
					want := 0
					switch a, b := a1+a2, b1+b2; {
					case a < b:
						want = -1
					case a > b:
						want = 1
					}
					if got := cmpConcat(a1, a2, b1, b2); got != want {
						t.Fatalf("cmpConcat(%q, %q, %q, %q) = %d, want %d", a1, a2, b1, b2, got, want)
					}
				}
			}
		}
	}
}

func countLines(t *testing.T, st *Store, name string) int {
	t.Helper()
	var out bytes.Buffer
	if err := st.WriteText(&out, Query{}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range bytes.Split(out.Bytes(), []byte("\n")) {
		if bytes.HasPrefix(l, []byte(name+":")) {
			n++
		}
	}
	return n
}

func TestALazyBlockIsListedAtZeroUntilItsFirstGet(t *testing.T) {
	lazy := NewStore()
	l := NewLazyBlock[testBlock](ClusterScope(lazy, "backend"))
	eager := NewStore()
	NewBlock[testBlock](ClusterScope(eager, "backend"))
	for _, q := range []Query{{}, {UsedOnly: true}} {
		var want, got bytes.Buffer
		if err := eager.WritePrometheus(&want, q); err != nil {
			t.Fatal(err)
		}
		if err := lazy.WritePrometheus(&got, q); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("an untouched lazy block lists\n%s\nan eager one\n%s", got.String(), want.String())
		}
	}
	if l.b.base.Load() != nil {
		t.Fatal("listing the stats allocated the lazy block's values")
	}
	b := l.Get()
	b.RqTotal.Inc()
	if l.Get() != b || NewBlock[testBlock](ClusterScope(lazy, "backend")) != b {
		t.Error("the lazy block's values were allocated twice")
	}
	var out bytes.Buffer
	if err := lazy.WriteText(&out, Query{UsedOnly: true}); err != nil {
		t.Fatal(err)
	}
	if want := "cluster.backend.upstream_rq_total: 1\n"; out.String() != want {
		t.Errorf("used stats:\n%s\nwant\n%s", out.String(), want)
	}
}

func TestANamedLookupOfALazyBlockStatAllocatesTheBlock(t *testing.T) {
	st := NewStore()
	l := NewLazyBlock[testBlock](ClusterScope(st, "backend"))
	ClusterScope(st, "backend").Counter("upstream_rq_total").Add(2)
	if got := l.Get().RqTotal.Value(); got != 2 {
		t.Errorf("upstream_rq_total = %d, want the 2 added through the view", got)
	}
}
