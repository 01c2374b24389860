package stats

import (
	"fmt"
	"io"
	"testing"
)

func BenchmarkCounterInc(b *testing.B) {
	c := ClusterScope(NewStore(), "backend").Counter("upstream_rq_total")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}

func BenchmarkGaugeIncDec(b *testing.B) {
	g := ClusterScope(NewStore(), "backend").Gauge("upstream_rq_active")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		g.Inc()
		g.Dec()
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := ClusterScope(NewStore(), "backend").Histogram("upstream_rq_time")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Record(uint64(i & 1023))
	}
}

func BenchmarkStatusCountersRecord(b *testing.B) {
	sc := NewStatusCounters(ClusterScope(NewStore(), "backend"), "upstream_rq")
	sc.Record(200)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sc.Record(200)
	}
}

// storeOf10k holds 10,000 stats: 400 clusters with 20 counters, 4 gauges
// and 1 histogram each.
func storeOf10k() *Store {
	st := NewStore()
	for c := 0; c < 400; c++ {
		sc := ClusterScope(st, fmt.Sprint("cluster-", c))
		for i := 0; i < 20; i++ {
			sc.Counter(fmt.Sprint("counter_", i)).Add(uint64(i))
		}
		for i := 0; i < 4; i++ {
			sc.Gauge(fmt.Sprint("gauge_", i)).Set(int64(i))
		}
		sc.Histogram("upstream_rq_time").Record(uint64(c))
	}
	return st
}

func BenchmarkWritePrometheus10k(b *testing.B) {
	st := storeOf10k()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := st.WritePrometheus(io.Discard, Query{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteText10k(b *testing.B) {
	st := storeOf10k()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := st.WriteText(io.Discard, Query{}); err != nil {
			b.Fatal(err)
		}
	}
}

// clusterOf25 is storeOf10k's cluster as a block: 20 counters, 4 gauges
// and 1 histogram.
type clusterOf25 struct {
	C00 BlockCounter   `stats:"counter_0"`
	C01 BlockCounter   `stats:"counter_1"`
	C02 BlockCounter   `stats:"counter_2"`
	C03 BlockCounter   `stats:"counter_3"`
	C04 BlockCounter   `stats:"counter_4"`
	C05 BlockCounter   `stats:"counter_5"`
	C06 BlockCounter   `stats:"counter_6"`
	C07 BlockCounter   `stats:"counter_7"`
	C08 BlockCounter   `stats:"counter_8"`
	C09 BlockCounter   `stats:"counter_9"`
	C10 BlockCounter   `stats:"counter_10"`
	C11 BlockCounter   `stats:"counter_11"`
	C12 BlockCounter   `stats:"counter_12"`
	C13 BlockCounter   `stats:"counter_13"`
	C14 BlockCounter   `stats:"counter_14"`
	C15 BlockCounter   `stats:"counter_15"`
	C16 BlockCounter   `stats:"counter_16"`
	C17 BlockCounter   `stats:"counter_17"`
	C18 BlockCounter   `stats:"counter_18"`
	C19 BlockCounter   `stats:"counter_19"`
	G0  BlockGauge     `stats:"gauge_0"`
	G1  BlockGauge     `stats:"gauge_1"`
	G2  BlockGauge     `stats:"gauge_2"`
	G3  BlockGauge     `stats:"gauge_3"`
	H   BlockHistogram `stats:"upstream_rq_time"`
}

// storeOf10kBlocks holds the same 10,000 stats as storeOf10k, in blocks.
func storeOf10kBlocks() *Store {
	st := NewStore()
	for c := 0; c < 400; c++ {
		b := NewBlock[clusterOf25](ClusterScope(st, fmt.Sprint("cluster-", c)))
		b.C00.Add(1)
		b.G0.Set(1)
		b.H.Record(uint64(c))
	}
	return st
}

func BenchmarkWritePrometheus10kInBlocks(b *testing.B) {
	st := storeOf10kBlocks()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := st.WritePrometheus(io.Discard, Query{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteText10kInBlocks(b *testing.B) {
	st := storeOf10kBlocks()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := st.WriteText(io.Discard, Query{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlockCounterInc(b *testing.B) {
	c := &NewBlock[clusterOf25](ClusterScope(NewStore(), "backend")).C00
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}
