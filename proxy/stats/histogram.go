package stats

import (
	"math"
	"strconv"
	"sync/atomic"
)

// DefaultBuckets are Envoy's default histogram bucket bounds.
var DefaultBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// intBounds are DefaultBuckets for integer values: v <= 0.5 holds only for
// v == 0, so the bound of the first bucket is 0. Record compares integers
// instead of converting every value to a float.
var intBounds = func() []uint64 {
	b := make([]uint64, len(DefaultBuckets))
	for i, f := range DefaultBuckets {
		b[i] = uint64(math.Floor(f))
	}
	return b
}()

// boundText is each bound as Prometheus' le label prints it, computed once.
var boundText = func() []string {
	t := make([]string, len(DefaultBuckets)+1)
	for i, f := range DefaultBuckets {
		t[i] = strconv.FormatFloat(f, 'f', -1, 64)
	}
	t[len(DefaultBuckets)] = "+Inf"
	return t
}()

// Histogram counts recorded values in DefaultBuckets.
type Histogram struct {
	Meta
	counts []atomic.Uint64 // counts[i]: values in bucket i (not cumulative); last: +Inf
	sum    atomic.Uint64   // sum of recorded values
	count  atomic.Uint64
	expo   exposition

	// interval holds the bucket counts at the last Store.Flush, so that the
	// text and JSON output can show the interval quantiles beside the
	// cumulative ones, as Envoy does. Written only by Flush.
	interval []atomic.Uint64
}

func newHistogram(m Meta) *Histogram {
	return &Histogram{
		Meta:     m,
		counts:   make([]atomic.Uint64, len(DefaultBuckets)+1),
		interval: make([]atomic.Uint64, len(DefaultBuckets)+1),
		expo:     newExposition(m),
	}
}

// bucket is the index of the first bound >= v (len(intBounds) for +Inf).
func bucket(v uint64) int {
	lo, hi := 0, len(intBounds)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if intBounds[mid] < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// Record adds one value. It takes no lock and does not allocate.
func (h *Histogram) Record(v uint64) {
	h.counts[bucket(v)].Add(1)
	h.sum.Add(v)
	h.count.Add(1)
}

// Used reports whether a value was ever recorded.
func (h *Histogram) Used() bool { return h.count.Load() != 0 }

// Snapshot returns cumulative bucket counts (one per DefaultBuckets bound,
// then +Inf), the sum and the count.
func (h *Histogram) Snapshot() (cumulative []uint64, sum, count uint64) {
	cumulative = make([]uint64, len(h.counts))
	count = h.cumulative(cumulative)
	return cumulative, h.sum.Load(), count
}

// cumulative fills dst with cumulative counts and returns the total. The
// total is taken from the buckets, not from h.count, so that a concurrent
// Record cannot make the +Inf bucket disagree with _count.
func (h *Histogram) cumulative(dst []uint64) uint64 {
	var run uint64
	for i := range h.counts {
		run += h.counts[i].Load()
		dst[i] = run
	}
	return run
}

// flush starts a new interval.
func (h *Histogram) flush() {
	for i := range h.counts {
		h.interval[i].Store(h.counts[i].Load())
	}
}

// intervalCumulative fills dst with the cumulative counts recorded since the
// last flush and returns their total.
func (h *Histogram) intervalCumulative(dst []uint64) uint64 {
	var run uint64
	for i := range h.counts {
		now, then := h.counts[i].Load(), h.interval[i].Load()
		if now > then {
			run += now - then
		}
		dst[i] = run
	}
	return run
}

// Flush starts a new interval for every histogram: the interval quantiles
// of /stats cover the values recorded since the previous Flush. Envoy
// flushes every stats_flush_interval (5 s); the server calls this on the
// same period. Until the first Flush the interval is the whole lifetime.
func (s *Store) Flush() {
	s.Each(nil, nil, (*Histogram).flush)
}

// SupportedQuantiles are the quantiles the text and JSON output report,
// Envoy's list.
var SupportedQuantiles = []float64{0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1}

// quantiles estimates SupportedQuantiles from cumulative bucket counts,
// interpolating linearly inside a bucket (as Prometheus' histogram_quantile
// does). Values are integers, so bucket i holds bound[i-1]+1 .. bound[i];
// the +Inf bucket is reported as the last bound. ok is false when the
// histogram is empty.
func quantiles(cum []uint64, total uint64, out []float64) (ok bool) {
	if total == 0 {
		return false
	}
	for qi, q := range SupportedQuantiles {
		rank := q * float64(total)
		i := 0
		for i < len(cum)-1 && float64(cum[i]) < rank {
			i++
		}
		// P0 is the lowest non-empty bucket, not the bucket of rank 0.
		if q == 0 {
			for i < len(cum)-1 && cum[i] == 0 {
				i++
			}
		}
		lo, hi := bucketRange(i)
		var prev uint64
		if i > 0 {
			prev = cum[i-1]
		}
		inBucket := cum[i] - prev
		if inBucket == 0 || hi == lo {
			out[qi] = hi
			continue
		}
		frac := (rank - float64(prev)) / float64(inBucket)
		frac = math.Max(0, math.Min(1, frac))
		out[qi] = lo + frac*(hi-lo)
	}
	return true
}

// bucketRange is the smallest and largest integer bucket i holds: bucket 0
// is exactly 0 and bucket 1 exactly 1.
func bucketRange(i int) (lo, hi float64) {
	switch {
	case i >= len(intBounds):
		b := float64(intBounds[len(intBounds)-1])
		return b, b
	case i == 0:
		return 0, 0
	default:
		return float64(intBounds[i-1] + 1), float64(intBounds[i])
	}
}
