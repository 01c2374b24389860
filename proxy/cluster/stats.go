package cluster

import (
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/upstream"
)

// Stats are a cluster's stats with Envoy's names
// (cluster.<name>.upstream_rq_total, …). The router updates the request
// stats; the pools update the connection and pending ones.
type Stats struct {
	*upstream.Stats

	RqTotal              *stats.Counter
	RqActive             *stats.Gauge
	RqCompleted          *stats.Counter
	RqTimeout            *stats.Counter
	RqPerTryTimeout      *stats.Counter
	RqRetry              *stats.Counter
	RqRetrySuccess       *stats.Counter
	RqRetryOverflow      *stats.Counter
	RqRetryLimitExceeded *stats.Counter
	RqRetryBackoff       *stats.Counter // upstream_rq_retry_backoff_exponential
	RqRxReset            *stats.Counter
	RqTxReset            *stats.Counter
	RqCancelled          *stats.Counter
	RqTime               *stats.Histogram // milliseconds
	MembershipTotal      *stats.Gauge
	MembershipHealthy    *stats.Gauge
	MembershipChange     *stats.Counter
	LbHealthyPanic       *stats.Counter
	UpdateAttempt        *stats.Counter
	UpdateSuccess        *stats.Counter
	UpdateFailure        *stats.Counter

	// Codes are upstream_rq_<code> and upstream_rq_<class>xx.
	Codes *stats.StatusCounters

	scope stats.Scope
}

func newStats(store *stats.Store, statName string) *Stats {
	sc := stats.ClusterScope(store, statName)
	s := &Stats{
		Stats:                upstream.NewStats(sc),
		RqTotal:              sc.Counter("upstream_rq_total"),
		RqActive:             sc.Gauge("upstream_rq_active"),
		RqCompleted:          sc.Counter("upstream_rq_completed"),
		RqTimeout:            sc.Counter("upstream_rq_timeout"),
		RqPerTryTimeout:      sc.Counter("upstream_rq_per_try_timeout"),
		RqRetry:              sc.Counter("upstream_rq_retry"),
		RqRetrySuccess:       sc.Counter("upstream_rq_retry_success"),
		RqRetryOverflow:      sc.Counter("upstream_rq_retry_overflow"),
		RqRetryLimitExceeded: sc.Counter("upstream_rq_retry_limit_exceeded"),
		RqRetryBackoff:       sc.Counter("upstream_rq_retry_backoff_exponential"),
		RqRxReset:            sc.Counter("upstream_rq_rx_reset"),
		RqTxReset:            sc.Counter("upstream_rq_tx_reset"),
		RqCancelled:          sc.Counter("upstream_rq_cancelled"),
		RqTime:               sc.Histogram("upstream_rq_time"),
		MembershipTotal:      sc.Gauge("membership_total"),
		MembershipHealthy:    sc.Gauge("membership_healthy"),
		MembershipChange:     sc.Counter("membership_change"),
		LbHealthyPanic:       sc.Counter("lb_healthy_panic"),
		UpdateAttempt:        sc.Counter("update_attempt"),
		UpdateSuccess:        sc.Counter("update_success"),
		UpdateFailure:        sc.Counter("update_failure"),
		Codes:                stats.NewStatusCounters(sc, "upstream_rq"),
		scope:                sc,
	}
	return s
}

// RecordStatus counts one upstream response code in upstream_rq_<code>
// and upstream_rq_<class>xx.
func (s *Stats) RecordStatus(code int) { s.Codes.Record(code) }
