package stats

import (
	"bytes"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestPrometheusParsesOurOutput feeds the exposition to Prometheus' own
// text parser, the one a scraper uses.
func TestPrometheusParsesOurOutput(t *testing.T) {
	var b bytes.Buffer
	if err := sampleStore().WritePrometheus(&b, Query{}); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(&b)
	if err != nil {
		t.Fatalf("Prometheus rejects the output: %v", err)
	}
	tests := []struct {
		family string
		typ    dto.MetricType
		labels map[string]string
		value  float64
	}{
		{family: "envoy_cluster_upstream_rq_xx", typ: dto.MetricType_COUNTER,
			labels: map[string]string{"envoy_response_code_class": "2", "envoy_cluster_name": "backend"}, value: 2},
		{family: "envoy_cluster_upstream_rq", typ: dto.MetricType_COUNTER,
			labels: map[string]string{"envoy_response_code": "503", "envoy_cluster_name": "backend"}, value: 1},
		{family: "envoy_cluster_upstream_rq_total", typ: dto.MetricType_COUNTER,
			labels: map[string]string{"envoy_cluster_name": `we"ird\name`}, value: 0},
		{family: "envoy_cluster_upstream_cx_active", typ: dto.MetricType_GAUGE,
			labels: map[string]string{"envoy_cluster_name": "backend"}, value: 2},
		{family: "envoy_server_live", typ: dto.MetricType_GAUGE, labels: map[string]string{}, value: 1},
		{family: "envoy_cluster_upstream_rq_time", typ: dto.MetricType_HISTOGRAM,
			labels: map[string]string{"envoy_cluster_name": "backend"}, value: 5},
	}
	for _, tt := range tests {
		t.Run(tt.family, func(t *testing.T) {
			mf := families[tt.family]
			if mf == nil {
				t.Fatalf("family %s missing", tt.family)
			}
			if mf.GetType() != tt.typ {
				t.Errorf("type = %v, want %v", mf.GetType(), tt.typ)
			}
			for _, m := range mf.GetMetric() {
				got := map[string]string{}
				for _, l := range m.GetLabel() {
					got[l.GetName()] = l.GetValue()
				}
				if !sameLabels(got, tt.labels) {
					continue
				}
				var v float64
				switch tt.typ {
				case dto.MetricType_COUNTER:
					v = m.GetCounter().GetValue()
				case dto.MetricType_GAUGE:
					v = m.GetGauge().GetValue()
				case dto.MetricType_HISTOGRAM:
					v = float64(m.GetHistogram().GetSampleCount())
					if n := len(m.GetHistogram().GetBucket()); n != len(DefaultBuckets)+1 { // and +Inf
						t.Errorf("%d buckets, want %d", n, len(DefaultBuckets)+1)
					}
				}
				if v != tt.value {
					t.Errorf("value = %v, want %v", v, tt.value)
				}
				return
			}
			t.Errorf("no series with labels %v", tt.labels)
		})
	}
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
