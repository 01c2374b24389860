package upstream

import (
	"sync/atomic"

	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Limit is one circuit-breaker threshold of Envoy's (max_connections,
// max_pending_requests, max_requests, max_retries): a count of resources in
// use and the most that may be. Acquire and Release are lock-free.
type Limit struct {
	max       int64
	n         atomic.Int64
	open      *stats.BlockGauge // 1 while the threshold is reached, like Envoy's *_open
	remaining *stats.BlockGauge // nil unless track_remaining
}

// NewLimit returns a threshold of max. open and remaining may be nil.
func NewLimit(max uint32, open, remaining *stats.BlockGauge) *Limit {
	l := &Limit{}
	l.Init(max, open, remaining)
	return l
}

// Init makes the zero Limit l, part of a larger struct, a threshold of
// max, as NewLimit does. It must not be used yet.
func (l *Limit) Init(max uint32, open, remaining *stats.BlockGauge) {
	*l = Limit{max: int64(max), open: open, remaining: remaining}
	l.report(0)
}

// TryAcquire takes one unit, or reports false when the threshold is reached.
func (l *Limit) TryAcquire() bool {
	n := l.n.Add(1)
	if n > l.max {
		l.n.Add(-1)
		return false
	}
	l.report(n)
	return true
}

// Release gives back a unit taken by TryAcquire.
func (l *Limit) Release() { l.report(l.n.Add(-1)) }

// InUse is the number of units taken.
func (l *Limit) InUse() int64 { return l.n.Load() }

// Max is the threshold.
func (l *Limit) Max() int64 { return l.max }

func (l *Limit) report(n int64) {
	if l.open != nil {
		if n >= l.max {
			l.open.Set(1)
		} else {
			l.open.Set(0)
		}
	}
	if l.remaining != nil {
		l.remaining.Set(max(l.max-n, 0))
	}
}
