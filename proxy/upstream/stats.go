package upstream

import (
	"sync/atomic"

	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Stats are the connection and pending-request stats of one cluster, with
// Envoy's names (cluster.<name>.upstream_cx_total, …): a stats block
// (stats.NewBlock), embedded in the cluster's own.
type Stats struct {
	CxTotal           stats.BlockCounter   `stats:"upstream_cx_total"`
	CxHTTP1Total      stats.BlockCounter   `stats:"upstream_cx_http1_total"`
	CxHTTP2Total      stats.BlockCounter   `stats:"upstream_cx_http2_total"`
	CxActive          stats.BlockGauge     `stats:"upstream_cx_active"`
	CxConnectFail     stats.BlockCounter   `stats:"upstream_cx_connect_fail"`
	CxConnectTimeout  stats.BlockCounter   `stats:"upstream_cx_connect_timeout"`
	CxOverflow        stats.BlockCounter   `stats:"upstream_cx_overflow"`
	CxDestroy         stats.BlockCounter   `stats:"upstream_cx_destroy"`
	CxDestroyLocal    stats.BlockCounter   `stats:"upstream_cx_destroy_local"`
	CxDestroyRemote   stats.BlockCounter   `stats:"upstream_cx_destroy_remote"`
	CxIdleTimeout     stats.BlockCounter   `stats:"upstream_cx_idle_timeout"`
	CxMaxRequests     stats.BlockCounter   `stats:"upstream_cx_max_requests"`
	CxProtocolError   stats.BlockCounter   `stats:"upstream_cx_protocol_error"`
	CxRxBytesTotal    stats.BlockCounter   `stats:"upstream_cx_rx_bytes_total"`
	CxTxBytesTotal    stats.BlockCounter   `stats:"upstream_cx_tx_bytes_total"`
	CxConnectMs       stats.BlockHistogram `stats:"upstream_cx_connect_ms"`
	CxLengthMs        stats.BlockHistogram `stats:"upstream_cx_length_ms"`
	RqPendingTotal    stats.BlockCounter   `stats:"upstream_rq_pending_total"`
	RqPendingActive   stats.BlockGauge     `stats:"upstream_rq_pending_active"`
	RqPendingOverflow stats.BlockCounter   `stats:"upstream_rq_pending_overflow"`
}

// NewStats creates (or finds again, after a reload) the stats in sc, for
// a Dialer of its own; a cluster embeds Stats in its block instead.
func NewStats(sc stats.Scope) *Stats { return stats.NewBlock[Stats](sc) }

// HostStats are one endpoint's counters, shown by the admin /clusters page
// (backend::10.0.0.1:80::cx_active::0) and read by LEAST_REQUEST.
type HostStats struct {
	CxTotal       atomic.Uint64
	CxActive      atomic.Int64
	CxConnectFail atomic.Uint64
	RqTotal       atomic.Uint64
	RqActive      atomic.Int64
	RqSuccess     atomic.Uint64
	RqError       atomic.Uint64
	RqTimeout     atomic.Uint64
}
