package upstream

import (
	"sync/atomic"

	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Stats are the connection and pending-request stats of one cluster, with
// Envoy's names (cluster.<name>.upstream_cx_total, …). NewStats creates
// them in a cluster scope.
type Stats struct {
	CxTotal           *stats.Counter
	CxHTTP1Total      *stats.Counter
	CxHTTP2Total      *stats.Counter
	CxActive          *stats.Gauge
	CxConnectFail     *stats.Counter
	CxConnectTimeout  *stats.Counter
	CxOverflow        *stats.Counter
	CxDestroy         *stats.Counter
	CxDestroyLocal    *stats.Counter
	CxDestroyRemote   *stats.Counter
	CxIdleTimeout     *stats.Counter
	CxMaxRequests     *stats.Counter
	CxProtocolError   *stats.Counter
	CxRxBytesTotal    *stats.Counter
	CxTxBytesTotal    *stats.Counter
	CxConnectMs       *stats.Histogram
	CxLengthMs        *stats.Histogram
	RqPendingTotal    *stats.Counter
	RqPendingActive   *stats.Gauge
	RqPendingOverflow *stats.Counter
}

// NewStats creates (or finds again, after a reload) the stats in sc.
func NewStats(sc stats.Scope) *Stats {
	return &Stats{
		CxTotal:           sc.Counter("upstream_cx_total"),
		CxHTTP1Total:      sc.Counter("upstream_cx_http1_total"),
		CxHTTP2Total:      sc.Counter("upstream_cx_http2_total"),
		CxActive:          sc.Gauge("upstream_cx_active"),
		CxConnectFail:     sc.Counter("upstream_cx_connect_fail"),
		CxConnectTimeout:  sc.Counter("upstream_cx_connect_timeout"),
		CxOverflow:        sc.Counter("upstream_cx_overflow"),
		CxDestroy:         sc.Counter("upstream_cx_destroy"),
		CxDestroyLocal:    sc.Counter("upstream_cx_destroy_local"),
		CxDestroyRemote:   sc.Counter("upstream_cx_destroy_remote"),
		CxIdleTimeout:     sc.Counter("upstream_cx_idle_timeout"),
		CxMaxRequests:     sc.Counter("upstream_cx_max_requests"),
		CxProtocolError:   sc.Counter("upstream_cx_protocol_error"),
		CxRxBytesTotal:    sc.Counter("upstream_cx_rx_bytes_total"),
		CxTxBytesTotal:    sc.Counter("upstream_cx_tx_bytes_total"),
		CxConnectMs:       sc.Histogram("upstream_cx_connect_ms"),
		CxLengthMs:        sc.Histogram("upstream_cx_length_ms"),
		RqPendingTotal:    sc.Counter("upstream_rq_pending_total"),
		RqPendingActive:   sc.Gauge("upstream_rq_pending_active"),
		RqPendingOverflow: sc.Counter("upstream_rq_pending_overflow"),
	}
}

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
