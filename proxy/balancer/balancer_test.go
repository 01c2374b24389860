package balancer

import (
	"math/rand/v2"
	"sync"
	"testing"
)

type ep struct {
	name   string
	weight uint32
	active int64
}

func (e *ep) Weight() uint32        { return e.weight }
func (e *ep) ActiveRequests() int64 { return e.active }

func seeded(seed uint64) func() uint64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed))
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Uint64()
	}
}

func counts(p *Picker[*ep], n int) map[string]int {
	out := map[string]int{}
	for range n {
		e, ok := p.Pick()
		if !ok {
			panic("empty")
		}
		out[e.name]++
	}
	return out
}

func TestPoliciesSplitByWeight(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		weights []uint32
		picks   int
		// want is each endpoint's expected share; tolerance is absolute.
		want      []float64
		tolerance float64
	}{
		{name: "round robin with equal weights rotates exactly", policy: RoundRobin,
			weights: []uint32{1, 1, 1, 1}, picks: 400, want: []float64{.25, .25, .25, .25}, tolerance: 0},
		{name: "round robin follows weights exactly over a cycle", policy: RoundRobin,
			weights: []uint32{5, 1, 1}, picks: 700, want: []float64{5. / 7, 1. / 7, 1. / 7}, tolerance: 0},
		{name: "round robin with a huge weight total still follows weights", policy: RoundRobin,
			weights: []uint32{9000, 1000}, picks: 10000, want: []float64{.9, .1}, tolerance: .005},
		{name: "random follows weights", policy: Random,
			weights: []uint32{80, 20}, picks: 4000, want: []float64{.8, .2}, tolerance: .03},
		{name: "least request with idle hosts follows weights", policy: LeastRequest,
			weights: []uint32{1, 1}, picks: 4000, want: []float64{.5, .5}, tolerance: .03},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var eps []*ep
			for i, w := range tt.weights {
				eps = append(eps, &ep{name: string(rune('a' + i)), weight: w})
			}
			p := New(Config{Policy: tt.policy, Rand: seeded(7)}, eps)
			got := counts(p, tt.picks)
			for i, e := range eps {
				share := float64(got[e.name]) / float64(tt.picks)
				if d := share - tt.want[i]; d > tt.tolerance+1e-9 || d < -tt.tolerance-1e-9 {
					t.Errorf("%s got share %.3f, want %.3f±%.3f (counts %v)", e.name, share, tt.want[i], tt.tolerance, got)
				}
			}
		})
	}
}

func TestSmoothRoundRobinInterleaves(t *testing.T) {
	eps := []*ep{{name: "a", weight: 5}, {name: "b", weight: 1}, {name: "c", weight: 1}}
	p := New(Config{Rand: func() uint64 { return 0 }}, eps)
	var seq string
	for range 7 {
		e, _ := p.Pick()
		seq += e.name
	}
	// nginx's smooth order for 5/1/1 never sends more than 3 in a row to a.
	if seq != "aabacaa" {
		t.Errorf("got order %q, want aabacaa", seq)
	}
}

func TestLeastRequestPrefersTheLessLoadedHost(t *testing.T) {
	busy := &ep{name: "busy", weight: 1, active: 100}
	idle := &ep{name: "idle", weight: 1}
	p := New(Config{Policy: LeastRequest, ChoiceCount: 2, Rand: seeded(3)}, []*ep{busy, idle})
	got := counts(p, 1000)
	// With two choices among two hosts the busy one wins only when both
	// draws land on it: about a quarter of the time.
	if got["idle"] < 700 {
		t.Errorf("idle host got %d of 1000 picks, want most of them", got["idle"])
	}
}

func TestPickOnAnEmptySetReportsNothing(t *testing.T) {
	p := New[*ep](Config{}, nil)
	if _, ok := p.Pick(); ok {
		t.Fatal("Pick on an empty set succeeded")
	}
}

func BenchmarkPick(b *testing.B) {
	for _, pol := range []Policy{RoundRobin, LeastRequest, Random} {
		b.Run(pol.String(), func(b *testing.B) {
			var eps []*ep
			for i := range 100 {
				eps = append(eps, &ep{weight: uint32(1 + i%3)})
			}
			p := New(Config{Policy: pol}, eps)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p.Pick()
				}
			})
		})
	}
}
