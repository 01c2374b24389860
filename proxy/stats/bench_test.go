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
