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

// bucketCount is len(DefaultBuckets)+1 (the last is +Inf), a constant so
// that a histogram's buckets are one allocation.
const bucketCount = 20

func init() {
	if len(DefaultBuckets)+1 != bucketCount {
		panic("stats: bucketCount does not match DefaultBuckets")
	}
}

// histogramData are a histogram's buckets, allocated with its first value:
// most histograms of most clusters never record one.
type histogramData struct {
	counts [bucketCount]atomic.Uint64 // values in bucket i (not cumulative); last: +Inf
	sum    atomic.Uint64              // sum of recorded values
	count  atomic.Uint64

	// interval holds the bucket counts at the last Store.Flush, so that the
	// text and JSON output can show the interval quantiles beside the
	// cumulative ones, as Envoy does. Written only by Flush.
	interval [bucketCount]atomic.Uint64
}

// BlockHistogram is a histogram in a block: a pointer until the first
// value is recorded. The zero value is ready to use.
type BlockHistogram struct{ d atomic.Pointer[histogramData] }

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

// Record adds one value. It takes no lock, and allocates only the first
// time.
func (h *BlockHistogram) Record(v uint64) {
	d := h.d.Load()
	if d == nil {
		h.d.CompareAndSwap(nil, new(histogramData))
		d = h.d.Load()
	}
	d.counts[bucket(v)].Add(1)
	d.sum.Add(v)
	d.count.Add(1)
}

// Used reports whether a value was ever recorded.
func (h *BlockHistogram) Used() bool {
	d := h.data()
	return d != nil && d.count.Load() != 0
}

// data is the buckets; nil before the first value, or for a nil histogram
// (a lazy block's, not yet allocated).
func (h *BlockHistogram) data() *histogramData {
	if h == nil {
		return nil
	}
	return h.d.Load()
}

// Snapshot returns cumulative bucket counts (one per DefaultBuckets bound,
// then +Inf), the sum and the count.
func (h *BlockHistogram) Snapshot() (cumulative []uint64, sum, count uint64) {
	cumulative = make([]uint64, bucketCount)
	return cumulative, h.sum(), h.cumulative(cumulative)
}

// sum is the sum of recorded values.
func (h *BlockHistogram) sum() uint64 {
	if d := h.data(); d != nil {
		return d.sum.Load()
	}
	return 0
}

// cumulative fills dst with cumulative counts and returns the total. The
// total is taken from the buckets, not from the count, so that a concurrent
// Record cannot make the +Inf bucket disagree with _count.
func (h *BlockHistogram) cumulative(dst []uint64) uint64 {
	d := h.data()
	if d == nil {
		clear(dst)
		return 0
	}
	var run uint64
	for i := range d.counts {
		run += d.counts[i].Load()
		dst[i] = run
	}
	return run
}

// flush starts a new interval.
func (h *BlockHistogram) flush() {
	if d := h.data(); d != nil {
		for i := range d.counts {
			d.interval[i].Store(d.counts[i].Load())
		}
	}
}

// intervalCumulative fills dst with the cumulative counts recorded since the
// last flush and returns their total.
func (h *BlockHistogram) intervalCumulative(dst []uint64) uint64 {
	d := h.data()
	if d == nil {
		clear(dst)
		return 0
	}
	var run uint64
	for i := range d.counts {
		now, then := d.counts[i].Load(), d.interval[i].Load()
		if now > then {
			run += now - then
		}
		dst[i] = run
	}
	return run
}

// Histogram is a named histogram: values counted in DefaultBuckets.
type Histogram struct {
	// cell holds the values: own, or a block's when the name belongs to
	// one (see NewBlock).
	cell atomic.Pointer[BlockHistogram]
	own  BlockHistogram
	Meta
	expo exposition
}

func newHistogram(m Meta) *Histogram {
	h := &Histogram{Meta: m, expo: newExposition(m)}
	h.cell.Store(&h.own)
	return h
}

// Record adds one value. It takes no lock and does not allocate after the
// first value.
func (h *Histogram) Record(v uint64) { h.cell.Load().Record(v) }

// Used reports whether a value was ever recorded.
func (h *Histogram) Used() bool { return h.cell.Load().Used() }

// Snapshot returns cumulative bucket counts (one per DefaultBuckets bound,
// then +Inf), the sum and the count.
func (h *Histogram) Snapshot() (cumulative []uint64, sum, count uint64) {
	return h.cell.Load().Snapshot()
}

// Flush starts a new interval for every histogram: the interval quantiles
// of /stats cover the values recorded since the previous Flush. Envoy
// flushes every stats_flush_interval (5 s); the server calls this on the
// same period. Until the first Flush the interval is the whole lifetime.
func (s *Store) Flush() {
	v := s.view()
	for _, h := range v.histograms {
		h.cell.Load().flush()
	}
	for _, b := range v.blocks {
		for _, i := range b.schema.histograms {
			b.histogram(&b.schema.entries[i]).flush()
		}
	}
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
