package hcm

import (
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// hcmStats are Envoy's http.<stat_prefix>.* stats.
type hcmStats struct {
	cxTotal, cxDestroy, cxHTTP1Total, cxHTTP2Total, cxDrainClose *stats.Counter
	cxActive, cxHTTP1Active, cxHTTP2Active, rqActive             *stats.Gauge
	rqTotal, rqHTTP1Total, rqHTTP2Total, rqCompleted             *stats.Counter
	rqTimeout, rqIdleTimeout, rqTooLarge, rqHeadersTimeout       *stats.Counter
	rqWsOnNonWsRoute                                             *stats.Counter
	rqXX                                                         [6]*stats.Counter // [1..5]: downstream_rq_1xx..5xx
	rqTime                                                       *stats.Histogram
}

func newStats(sc stats.Scope) *hcmStats {
	st := &hcmStats{
		cxTotal:          sc.Counter("downstream_cx_total"),
		cxDestroy:        sc.Counter("downstream_cx_destroy"),
		cxHTTP1Total:     sc.Counter("downstream_cx_http1_total"),
		cxHTTP2Total:     sc.Counter("downstream_cx_http2_total"),
		cxDrainClose:     sc.Counter("downstream_cx_drain_close"),
		cxActive:         sc.Gauge("downstream_cx_active"),
		cxHTTP1Active:    sc.Gauge("downstream_cx_http1_active"),
		cxHTTP2Active:    sc.Gauge("downstream_cx_http2_active"),
		rqActive:         sc.Gauge("downstream_rq_active"),
		rqTotal:          sc.Counter("downstream_rq_total"),
		rqHTTP1Total:     sc.Counter("downstream_rq_http1_total"),
		rqHTTP2Total:     sc.Counter("downstream_rq_http2_total"),
		rqCompleted:      sc.Counter("downstream_rq_completed"),
		rqTimeout:        sc.Counter("downstream_rq_timeout"),
		rqIdleTimeout:    sc.Counter("downstream_rq_idle_timeout"),
		rqTooLarge:       sc.Counter("downstream_rq_too_large"),
		rqHeadersTimeout: sc.Counter("downstream_rq_header_timeout"),
		rqWsOnNonWsRoute: sc.Counter("downstream_rq_ws_on_non_ws_route"),
		rqTime:           sc.Histogram("downstream_rq_time"),
	}
	for c := 1; c <= 5; c++ {
		class := string(rune('0' + c))
		st.rqXX[c] = sc.CounterAs("downstream_rq_"+class+"xx", "downstream_rq_xx",
			stats.Tag{Name: "envoy_response_code_class", Value: class})
	}
	return st
}

func (st *hcmStats) countResponse(code int) {
	st.rqCompleted.Inc()
	if c := code / 100; c >= 1 && c <= 5 {
		st.rqXX[c].Inc()
	}
}

// countProtocolError counts a request the HTTP/1 codec rejected itself
// (the handler never saw it).
func (st *hcmStats) countProtocolError(status int) {
	st.rqTotal.Inc()
	st.rqHTTP1Total.Inc()
	switch status {
	case 431:
		st.rqTooLarge.Inc()
	case 408:
		st.rqHeadersTimeout.Inc()
	}
	st.countResponse(status)
}
