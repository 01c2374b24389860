package sampleapp

import (
	"testing"
	"time"
)

func TestLatencyQuantilesAreGoodToOneBucket(t *testing.T) {
	var l Latency
	for i := 1; i <= 100; i++ {
		l.Record(time.Duration(i) * time.Millisecond)
	}
	tests := []struct {
		name string
		q    float64
		want time.Duration
	}{
		{name: "the median", q: 0.5, want: 50 * time.Millisecond},
		{name: "the 90th percentile", q: 0.9, want: 90 * time.Millisecond},
		{name: "the 99th percentile", q: 0.99, want: 99 * time.Millisecond},
		{name: "the maximum", q: 1, want: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := l.Quantile(tt.q)
			// The answer is the bound of the bucket holding the value: at
			// or above it, and less than one bucket (19%) above.
			if got < tt.want || float64(got) > float64(tt.want)*1.19 {
				t.Errorf("Quantile(%v) = %v, want %v to %v", tt.q, got, tt.want, time.Duration(float64(tt.want)*1.19))
			}
		})
	}
}

func TestLatencyBucketsHoldTheirBounds(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
	}{
		{name: "zero goes to the first bucket", d: 0},
		{name: "the base is the first bound", d: latencyBase},
		{name: "a duration on a bound stays in its bucket", d: Bound(7)},
		{name: "a duration just above a bound goes to the next", d: Bound(7) + 1},
		{name: "an hour goes to the last bucket", d: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := bucketOf(tt.d)
			if i < latencyBuckets-1 && tt.d > Bound(i) {
				t.Errorf("%v went to bucket %d, bound %v", tt.d, i, Bound(i))
			}
			if i > 0 && tt.d <= Bound(i-1) {
				t.Errorf("%v went to bucket %d, but fits bucket %d (bound %v)", tt.d, i, i-1, Bound(i-1))
			}
		})
	}
}

func TestLatencySinceKeepsOnlyTheLaterDurations(t *testing.T) {
	var l Latency
	l.Record(time.Millisecond)
	earlier := l.Clone()
	l.Record(time.Second)
	l.Record(time.Second)
	window := l.Since(earlier)
	if window.Total() != 2 || window.Quantile(0.01) < time.Second {
		t.Errorf("window %v: want the two one-second durations only", window.Counts)
	}
	if (Latency{}).Quantile(0.5) != 0 {
		t.Error("an empty histogram has a median")
	}
}
