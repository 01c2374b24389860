// Package balancer chooses one endpoint of a cluster per request: Envoy's
// ROUND_ROBIN (weighted, smooth), LEAST_REQUEST (power of N choices) and
// RANDOM policies.
//
// A Picker is built once per host set and never changes afterwards; it
// keeps only atomic counters, so Pick neither locks nor allocates. When
// the endpoints change, the owner builds a new Picker and swaps it in.
package balancer

import (
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
)

// Endpoint is what a policy needs to know about a host.
type Endpoint interface {
	// Weight is the endpoint's load_balancing_weight (at least 1).
	Weight() uint32
	// ActiveRequests is the number of requests in flight to the endpoint.
	ActiveRequests() int64
}

// Policy is a load-balancing algorithm.
type Policy int

const (
	RoundRobin Policy = iota
	LeastRequest
	Random
)

func (p Policy) String() string {
	switch p {
	case RoundRobin:
		return "ROUND_ROBIN"
	case LeastRequest:
		return "LEAST_REQUEST"
	case Random:
		return "RANDOM"
	}
	return "UNKNOWN"
}

// Config tunes a policy. The zero value is round robin.
type Config struct {
	Policy Policy
	// ChoiceCount is how many random endpoints LEAST_REQUEST compares;
	// zero means 2 (Envoy's default).
	ChoiceCount int
	// Rand, if not nil, replaces the process-wide random source (tests use
	// a seeded one). It must be safe for concurrent use.
	Rand func() uint64
}

// maxSchedule bounds the precomputed smooth round-robin schedule; weight
// sets whose reduced total exceeds it use a low-discrepancy sequence.
const maxSchedule = 4096

// Picker picks endpoints of one immutable set.
type Picker[E Endpoint] struct {
	cfg Config
	eps []E
	// w is nil when all weights are equal (plain rotation, uniform
	// draws), as they are in most clusters: a sidecar may hold thousands
	// of pickers.
	w         *weights
	next      atomic.Uint64
	choiceCnt int
}

// weights are what picking among unequal weights needs.
type weights struct {
	cum      []uint64 // cumulative weights, for weighted random draws
	total    uint64
	schedule []int32 // smooth weighted round-robin order of indexes
}

// New builds a picker over eps. The slice is kept; callers must not
// modify it afterwards.
func New[E Endpoint](cfg Config, eps []E) *Picker[E] {
	p := &Picker[E]{cfg: cfg, eps: eps, choiceCnt: cfg.ChoiceCount}
	if p.choiceCnt <= 0 {
		p.choiceCnt = 2
	}
	for _, e := range eps[min(1, len(eps)):] {
		if max(e.Weight(), 1) != max(eps[0].Weight(), 1) {
			p.w = newWeights(cfg, eps)
			break
		}
	}
	// Start each picker at a random offset, as Envoy does, so that many
	// proxies do not hit the first endpoint in lockstep.
	if len(eps) > 0 {
		p.next.Store(p.rand() % uint64(len(eps)))
	}
	return p
}

func newWeights[E Endpoint](cfg Config, eps []E) *weights {
	w := &weights{cum: make([]uint64, len(eps))}
	for i, e := range eps {
		w.total += uint64(max(e.Weight(), 1))
		w.cum[i] = w.total
	}
	if cfg.Policy == RoundRobin {
		w.schedule = smoothSchedule(eps)
	}
	return w
}

// Len is the number of endpoints.
func (p *Picker[E]) Len() int { return len(p.eps) }

// Endpoints returns the set the picker chooses from; it must not be modified.
func (p *Picker[E]) Endpoints() []E { return p.eps }

// Pick returns one endpoint, or false when the set is empty.
func (p *Picker[E]) Pick() (E, bool) {
	var zero E
	switch len(p.eps) {
	case 0:
		return zero, false
	case 1:
		return p.eps[0], true
	}
	switch p.cfg.Policy {
	case LeastRequest:
		return p.leastRequest(), true
	case Random:
		return p.eps[p.weightedIndex()], true
	}
	n := p.next.Add(1) - 1
	w := p.w
	if w == nil {
		return p.eps[n%uint64(len(p.eps))], true
	}
	if w.schedule != nil {
		return p.eps[w.schedule[n%uint64(len(w.schedule))]], true
	}
	// Weyl sequence with the golden ratio: consecutive picks spread evenly
	// over the weight line, so the split is smooth without a locked scheduler.
	const golden = 0x9E3779B97F4A7C15
	x := mulHi(n*golden, w.total)
	return p.eps[p.indexAt(x)], true
}

// leastRequest compares ChoiceCount random endpoints and keeps the one with
// the fewest active requests relative to its weight.
func (p *Picker[E]) leastRequest() E {
	best := -1
	var bestScore float64
	for range p.choiceCnt {
		i := p.weightedIndex()
		e := p.eps[i]
		score := float64(e.ActiveRequests()+1) / float64(max(e.Weight(), 1))
		if best < 0 || score < bestScore {
			best, bestScore = i, score
		}
	}
	return p.eps[best]
}

func (p *Picker[E]) weightedIndex() int {
	if p.w == nil {
		return int(p.rand() % uint64(len(p.eps)))
	}
	return p.indexAt(p.rand() % p.w.total)
}

// indexAt is the endpoint whose cumulative weight range holds x.
func (p *Picker[E]) indexAt(x uint64) int {
	cum := p.w.cum
	lo, hi := 0, len(cum)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if cum[mid] > x {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func (p *Picker[E]) rand() uint64 {
	if p.cfg.Rand != nil {
		return p.cfg.Rand()
	}
	return rand.Uint64()
}

// mulHi maps a uniform 64-bit value onto [0, n).
func mulHi(x, n uint64) uint64 {
	hi, _ := bits.Mul64(x, n)
	return hi
}

// smoothSchedule is nginx's smooth weighted round robin, run once over the
// reduced weights: each step adds every weight to its endpoint's current
// value, picks the largest and subtracts the total. Nil when the cycle
// would be longer than maxSchedule.
func smoothSchedule[E Endpoint](eps []E) []int32 {
	g := uint64(0)
	for _, e := range eps {
		g = gcd(g, uint64(max(e.Weight(), 1)))
	}
	w := make([]int64, len(eps))
	var total int64
	for i, e := range eps {
		w[i] = int64(uint64(max(e.Weight(), 1)) / g)
		total += w[i]
	}
	if total > maxSchedule {
		return nil
	}
	cur := make([]int64, len(eps))
	out := make([]int32, total)
	for s := range out {
		best := 0
		for i := range cur {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out[s] = int32(best)
	}
	return out
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
