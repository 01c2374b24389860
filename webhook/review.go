// Package webhook is the sidecar-injection admission webhook: an HTTPS server that
// answers admission.k8s.io/v1 AdmissionReviews for pod creation with the JSON Patch that
// package inject computes.
//
// Failure behaviour: a pod the webhook cannot inject (bad annotations, an application
// running as the proxy's UID) is allowed unchanged, with a warning the user sees in
// kubectl and a count in outrider_webhook_errors_total, so a mistake in one pod's
// annotations never blocks a rollout. A malformed review is answered with HTTP 400, and
// the API server then applies the webhook's failurePolicy (see docs/injection.md).
package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/outrider-mesh/outrider/inject"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxReviewBytes bounds a request body; the API server's own object limit is 3 MiB.
const maxReviewBytes = 8 << 20

// Handler answers admission reviews on the webhook's /inject path.
type Handler struct {
	// Injector computes the patch; required.
	Injector *inject.Config
	// Metrics is where outcomes are counted; required (see NewMetrics).
	Metrics *Metrics
	// Log receives one line per skipped or failed pod; nil means slog.Default().
	Log *slog.Logger
}

var podResource = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.Metrics.reviews.Inc()
	defer func() {
		if p := recover(); p != nil {
			// Never let one odd review take the webhook down for every other pod.
			h.Metrics.errors.WithLabelValues(errPanic).Inc()
			h.log().Error("webhook: panic answering review", "panic", fmt.Sprint(p))
			http.Error(w, "webhook: internal error", http.StatusInternalServerError)
		}
		h.Metrics.duration.Observe(time.Since(start).Seconds())
	}()
	if r.Method != http.MethodPost {
		h.reject(w, http.StatusMethodNotAllowed, errors.New("webhook: POST an AdmissionReview"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err == nil && len(body) > maxReviewBytes {
		err = fmt.Errorf("body larger than %d bytes", maxReviewBytes)
	}
	if err != nil {
		h.reject(w, http.StatusBadRequest, fmt.Errorf("webhook: reading review: %w", err))
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		h.reject(w, http.StatusBadRequest, fmt.Errorf("webhook: malformed AdmissionReview: %w", err))
		return
	}
	if review.Request == nil || review.Request.UID == "" {
		h.reject(w, http.StatusBadRequest, errors.New("webhook: malformed AdmissionReview: no request or no request uid"))
		return
	}
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: h.review(review.Request)}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
	}
	resp, err := json.Marshal(&out)
	if err != nil {
		panic(err) // only typed values: cannot fail
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(resp)
}

func (h *Handler) reject(w http.ResponseWriter, code int, err error) {
	h.Metrics.errors.WithLabelValues(errMalformedReview).Inc()
	h.log().Warn("webhook: rejected request", "status", code, "err", err)
	http.Error(w, err.Error(), code)
}

// review decides on one request. It always allows: at worst the pod is left unchanged.
func (h *Handler) review(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Operation != admissionv1.Create || req.Resource != podResource || req.SubResource != "" {
		h.Metrics.skips.WithLabelValues(skipNotPodCreate).Inc()
		return resp
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		h.Metrics.errors.WithLabelValues(errBadPod).Inc()
		h.log().Warn("webhook: undecodable pod allowed unchanged", "namespace", req.Namespace, "err", err)
		resp.Warnings = []string{warning(fmt.Errorf("pod not decodable: %w", err))}
		return resp
	}
	ns := req.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	name := pod.Name
	if name == "" {
		name = pod.GenerateName + "<generated>"
	}
	res, err := h.Injector.Inject(inject.Template{Meta: &pod.ObjectMeta, Spec: &pod.Spec, Namespace: ns})
	if err != nil {
		reason := errInvalid
		if errors.Is(err, inject.ErrRefused) {
			reason = errRefused
		}
		h.Metrics.errors.WithLabelValues(reason).Inc()
		h.log().Warn("webhook: pod allowed without the sidecar", "namespace", ns, "pod", name, "err", err)
		resp.Warnings = []string{warning(err)}
		return resp
	}
	if res.Skip != "" {
		h.Metrics.skips.WithLabelValues(string(res.Skip)).Inc()
		h.log().Debug("webhook: pod skipped", "namespace", ns, "pod", name, "reason", res.Skip)
		return resp
	}
	patch, err := json.Marshal(res.Patch)
	if err != nil {
		panic(err) // only typed values: cannot fail
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	for _, w := range res.Warnings {
		resp.Warnings = append(resp.Warnings, "outrider: "+w)
	}
	h.Metrics.injections.Inc()
	return resp
}

// warning fits an error into one admission warning: one line, prefixed, bounded.
func warning(err error) string {
	s := "outrider: pod not injected: " + strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	if len(s) > 1000 {
		s = s[:1000] + "…"
	}
	return s
}
