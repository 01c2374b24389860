package webhook

import (
	"github.com/outrider-mesh/outrider/inject"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what the webhook does; served on /metrics.
type Metrics struct {
	reviews    prometheus.Counter
	injections prometheus.Counter
	skips      *prometheus.CounterVec
	errors     *prometheus.CounterVec
	duration   prometheus.Histogram
}

// Reasons for outrider_webhook_skips_total besides inject's Skip values.
const (
	skipNotPodCreate = "not-pod-create"
)

// Reasons for outrider_webhook_errors_total.
const (
	errMalformedReview = "malformed-review" // answered with HTTP 400
	errBadPod          = "bad-pod"          // review fine, pod undecodable: allowed unchanged
	errInvalid         = "invalid"          // bad annotations: allowed unchanged
	errRefused         = "refused"          // e.g. app runs as UID 1337: allowed unchanged
	errPanic           = "panic"            // a bug: answered with HTTP 500
)

// NewMetrics registers the webhook's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reviews: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outrider_webhook_reviews_total", Help: "Admission reviews received.",
		}),
		injections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outrider_webhook_injections_total", Help: "Pods injected with the sidecar.",
		}),
		skips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outrider_webhook_skips_total", Help: "Pods deliberately left without the sidecar, by reason.",
		}, []string{"reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outrider_webhook_errors_total", Help: "Reviews that failed or pods that could not be injected, by reason.",
		}, []string{"reason"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "outrider_webhook_review_duration_seconds",
			Help:    "Time to answer one admission review.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .1},
		}),
	}
	// Every series exists from the start, so dashboards and alerts see zeros, not gaps.
	for _, r := range []string{string(inject.SkipOptOut), string(inject.SkipHostNetwork), string(inject.SkipKubeSystem),
		string(inject.SkipInjected), skipNotPodCreate} {
		m.skips.WithLabelValues(r)
	}
	for _, r := range []string{errMalformedReview, errBadPod, errInvalid, errRefused, errPanic} {
		m.errors.WithLabelValues(r)
	}
	reg.MustRegister(m.reviews, m.injections, m.skips, m.errors, m.duration)
	return m
}
