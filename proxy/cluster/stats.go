package cluster

import (
	"sync/atomic"

	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/upstream"
)

// Stats are a cluster's stats with Envoy's names
// (cluster.<name>.upstream_rq_total, …). The router updates the request
// stats; the pools update the connection and pending ones.
//
// They are stats blocks (stats.NewBlock): values only, named when
// exposed, so that a cluster's ~50 stats cost a few hundred bytes and
// thousands of clusters stay cheap. The traffic stats, most of them, are
// allocated with the cluster's first request (stats.NewLazyBlock). Every
// one is listed, at zero until used, as Envoy lists an unused cluster's
// stats.
type Stats struct {
	*clusterStats
	*trafficStats
	scope stats.Scope
	// codes are upstream_rq_<code> and upstream_rq_<class>xx, created with
	// the first response: named stats that appear on use, as in Envoy.
	codes atomic.Pointer[stats.StatusCounters]
}

// clusterStats are the stats every cluster writes when it starts.
type clusterStats struct {
	breakerStats

	MembershipTotal   stats.BlockGauge   `stats:"membership_total"`
	MembershipHealthy stats.BlockGauge   `stats:"membership_healthy"`
	MembershipChange  stats.BlockCounter `stats:"membership_change"`
	LbHealthyPanic    stats.BlockCounter `stats:"lb_healthy_panic"`
	UpdateAttempt     stats.BlockCounter `stats:"update_attempt"`
	UpdateSuccess     stats.BlockCounter `stats:"update_success"`
	UpdateFailure     stats.BlockCounter `stats:"update_failure"`
}

// trafficStats are the stats of requests and connections.
type trafficStats struct {
	upstream.Stats

	RqTotal              stats.BlockCounter   `stats:"upstream_rq_total"`
	RqActive             stats.BlockGauge     `stats:"upstream_rq_active"`
	RqCompleted          stats.BlockCounter   `stats:"upstream_rq_completed"`
	RqTimeout            stats.BlockCounter   `stats:"upstream_rq_timeout"`
	RqPerTryTimeout      stats.BlockCounter   `stats:"upstream_rq_per_try_timeout"`
	RqRetry              stats.BlockCounter   `stats:"upstream_rq_retry"`
	RqRetrySuccess       stats.BlockCounter   `stats:"upstream_rq_retry_success"`
	RqRetryOverflow      stats.BlockCounter   `stats:"upstream_rq_retry_overflow"`
	RqRetryLimitExceeded stats.BlockCounter   `stats:"upstream_rq_retry_limit_exceeded"`
	RqRetryBackoff       stats.BlockCounter   `stats:"upstream_rq_retry_backoff_exponential"`
	RqRxReset            stats.BlockCounter   `stats:"upstream_rq_rx_reset"`
	RqTxReset            stats.BlockCounter   `stats:"upstream_rq_tx_reset"`
	RqCancelled          stats.BlockCounter   `stats:"upstream_rq_cancelled"`
	RqTime               stats.BlockHistogram `stats:"upstream_rq_time"` // milliseconds
}

// breakerStats are the default priority's circuit-breaker gauges: 1 while
// a threshold is reached.
type breakerStats struct {
	CxOpen        stats.BlockGauge `stats:"circuit_breakers.default.cx_open"`
	RqPendingOpen stats.BlockGauge `stats:"circuit_breakers.default.rq_pending_open"`
	RqOpen        stats.BlockGauge `stats:"circuit_breakers.default.rq_open"`
	RqRetryOpen   stats.BlockGauge `stats:"circuit_breakers.default.rq_retry_open"`
}

// remainingStats are what is left under each threshold, listed only with
// track_remaining, as in Envoy.
type remainingStats struct {
	Cx      stats.BlockGauge `stats:"circuit_breakers.default.remaining_cx"`
	Pending stats.BlockGauge `stats:"circuit_breakers.default.remaining_pending"`
	Rq      stats.BlockGauge `stats:"circuit_breakers.default.remaining_rq"`
	Retries stats.BlockGauge `stats:"circuit_breakers.default.remaining_retries"`
}

// RecordStatus counts one upstream response code in upstream_rq_<code>
// and upstream_rq_<class>xx.
func (s *Stats) RecordStatus(code int) {
	c := s.codes.Load()
	if c == nil {
		// Racing first responses may make two; the store gives both the
		// same counters, so either may be kept.
		s.codes.CompareAndSwap(nil, stats.NewStatusCounters(s.scope, "upstream_rq"))
		c = s.codes.Load()
	}
	c.Record(code)
}
