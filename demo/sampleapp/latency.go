package sampleapp

import (
	"math"
	"time"
)

// Latency buckets grow by a quarter of an octave (about 19%) from latencyBase:
// percentiles are then good to one bucket, which is all a terminal shows,
// and a report stays small enough to send every second.
const (
	latencyBase     = 16 * time.Microsecond
	bucketsPerOctet = 4
	latencyBuckets  = 25 * bucketsPerOctet // up to about 9 minutes
)

// Latency is a histogram of durations. The zero value is empty and ready to
// use; it is not safe for concurrent use.
type Latency struct {
	// Counts[i] counts durations above Bound(i-1) and up to Bound(i);
	// trailing empty buckets are left out.
	Counts []uint64 `json:"counts,omitempty"`
}

// Bound is the upper bound of bucket i.
func Bound(i int) time.Duration {
	return time.Duration(float64(latencyBase) * math.Exp2(float64(i)/bucketsPerOctet))
}

func bucketOf(d time.Duration) int {
	if d <= latencyBase {
		return 0
	}
	i := int(math.Ceil(bucketsPerOctet * math.Log2(float64(d)/float64(latencyBase))))
	// Rounding can put a duration just past its bound; move it back.
	for i > 0 && d <= Bound(i-1) {
		i--
	}
	return min(i, latencyBuckets-1)
}

// Record counts one duration.
func (l *Latency) Record(d time.Duration) {
	i := bucketOf(d)
	if i >= len(l.Counts) {
		l.Counts = append(l.Counts, make([]uint64, i+1-len(l.Counts))...)
	}
	l.Counts[i]++
}

// Total is the number of durations recorded.
func (l Latency) Total() uint64 {
	var n uint64
	for _, c := range l.Counts {
		n += c
	}
	return n
}

// Clone returns a copy that does not share l's buckets.
func (l Latency) Clone() Latency {
	return Latency{Counts: append([]uint64(nil), l.Counts...)}
}

// Since returns what was recorded after earlier, a snapshot of the same
// histogram: the durations of one interval.
func (l Latency) Since(earlier Latency) Latency {
	out := l.Clone()
	for i := range min(len(out.Counts), len(earlier.Counts)) {
		out.Counts[i] -= min(out.Counts[i], earlier.Counts[i])
	}
	return out
}

// Quantile returns the upper bound of the bucket holding the q-quantile
// (0 < q ≤ 1), or 0 when nothing was recorded.
func (l Latency) Quantile(q float64) time.Duration {
	total := l.Total()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range l.Counts {
		seen += c
		if seen >= rank {
			return Bound(i)
		}
	}
	return Bound(len(l.Counts) - 1)
}
