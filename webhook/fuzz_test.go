package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/outrider-mesh/outrider/inject"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

// FuzzReview sends arbitrary bodies to the handler: it must answer every one, and never
// by way of its panic guard.
func FuzzReview(f *testing.F) {
	f.Add(reviewFor(f, testPod(nil), admissionv1.Create))
	f.Add(reviewFor(f, testPod(func(p *corev1.Pod) { p.Annotations = map[string]string{inject.AnnotationLogLevel: "x"} }), admissionv1.Create))
	f.Add([]byte(`{"request":{"uid":"1","operation":"CREATE","resource":{"version":"v1","resource":"pods"},"object":{}}}`))
	f.Add([]byte(`{"request":{"uid":"1","operation":"CREATE","resource":{"version":"v1","resource":"pods"},"object":null}}`))
	h := &Handler{Injector: &inject.Config{Version: "fuzz"}, Metrics: NewMetrics(prometheus.NewRegistry())}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, InjectPath, bytes.NewReader(body)))
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if n := testutil.ToFloat64(h.Metrics.errors.WithLabelValues(errPanic)); n != 0 {
			t.Fatalf("handler panicked on %q", body)
		}
	})
}
