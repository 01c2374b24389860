package stats

import (
	"testing"
)

func TestHistogramPutsIntegerValuesInEnvoysBuckets(t *testing.T) {
	tests := []struct {
		name   string
		value  uint64
		wantLE string
	}{
		{name: "zero is at most 0.5", value: 0, wantLE: "0.5"},
		{name: "one is at most 1", value: 1, wantLE: "1"},
		{name: "two falls in the bucket up to 5", value: 2, wantLE: "5"},
		{name: "a bound belongs to its own bucket", value: 5, wantLE: "5"},
		{name: "just over a bound goes to the next bucket", value: 6, wantLE: "10"},
		{name: "the largest bound", value: 3600000, wantLE: "3600000"},
		{name: "beyond every bound is +Inf", value: 3600001, wantLE: "+Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := boundText[bucket(tt.value)]; got != tt.wantLE {
				t.Errorf("bucket of %d is le=%s, want le=%s", tt.value, got, tt.wantLE)
			}
		})
	}
}

func TestHistogramSnapshotIsCumulative(t *testing.T) {
	h := NewStore().Root().Histogram("h")
	for _, v := range []uint64{0, 3, 3, 7, 5000000} {
		h.Record(v)
	}
	cum, sum, count := h.Snapshot()
	if count != 5 || sum != 5000013 {
		t.Errorf("count=%d sum=%d, want 5 5000013", count, sum)
	}
	want := map[int]uint64{0: 1, 1: 1, 2: 3, 3: 4, len(cum) - 2: 4, len(cum) - 1: 5}
	for i, w := range want {
		if cum[i] != w {
			t.Errorf("cumulative[%d] (le=%s) = %d, want %d", i, boundText[i], cum[i], w)
		}
	}
}

func TestQuantilesInterpolateInsideABucket(t *testing.T) {
	tests := []struct {
		name   string
		values []uint64
		want   map[float64]float64 // quantile -> estimate
	}{
		{name: "all zeros", values: []uint64{0, 0, 0}, want: map[float64]float64{0: 0, 0.5: 0, 1: 0}},
		{name: "all ones", values: []uint64{1, 1}, want: map[float64]float64{0: 1, 0.5: 1, 1: 1}},
		{name: "spread over 11..25", values: []uint64{11, 12, 13, 14}, want: map[float64]float64{0: 11, 0.5: 18, 1: 25}},
		{name: "half at 1 and half at 100", values: []uint64{1, 1, 100, 100}, want: map[float64]float64{0: 1, 0.5: 1, 0.75: 75.5, 1: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewStore().Root().Histogram("h")
			for _, v := range tt.values {
				h.Record(v)
			}
			cum := make([]uint64, len(boundText))
			out := make([]float64, len(SupportedQuantiles))
			if !quantiles(cum, h.cell.Load().cumulative(cum), out) {
				t.Fatal("quantiles reported an empty histogram")
			}
			for i, q := range SupportedQuantiles {
				if w, ok := tt.want[q]; ok && out[i] != w {
					t.Errorf("P%g = %g, want %g", q*100, out[i], w)
				}
			}
		})
	}
}

func TestIntervalQuantilesCoverValuesSinceTheLastFlush(t *testing.T) {
	st := NewStore()
	h := st.Root().Histogram("h")
	h.Record(1)
	st.Flush()
	cum := make([]uint64, len(boundText))
	if n := h.cell.Load().intervalCumulative(cum); n != 0 {
		t.Fatalf("interval after flush holds %d values, want 0", n)
	}
	h.Record(100)
	if n := h.cell.Load().intervalCumulative(cum); n != 1 || cum[bucket(100)] != 1 || cum[bucket(1)] != 0 {
		t.Errorf("interval = %v (total %d), want only the value 100", cum, n)
	}
}
