package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/outrider-mesh/outrider/inject"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func testPod(mut func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: "shop", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "nginx",
			Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}},
		}}},
	}
	if mut != nil {
		mut(p)
	}
	return p
}

func reviewFor(t testing.TB, pod *corev1.Pod, op admissionv1.Operation) []byte {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	r := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("4b5e-review"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "shop",
			Operation: op,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestServer(t *testing.T, injector *inject.Config) (*httptest.Server, *Metrics) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	srv := httptest.NewServer(&Handler{Injector: injector, Metrics: m})
	t.Cleanup(srv.Close)
	return srv, m
}

func post(t *testing.T, url string, body []byte) (int, *admissionv1.AdmissionReview) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, &out
}

func TestReviewOfAnOptedInPodReturnsTheInjectionPatch(t *testing.T) {
	srv, m := newTestServer(t, &inject.Config{Version: "test"})
	pod := testPod(nil)
	code, out := post(t, srv.URL, reviewFor(t, pod, admissionv1.Create))
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	r := out.Response
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || r.UID != "4b5e-review" || !r.Allowed {
		t.Fatalf("response = %+v", out)
	}
	if r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type = %v", r.PatchType)
	}
	// Apply the patch as the API server would and look at the result.
	raw, _ := json.Marshal(pod)
	p, err := jsonpatch.DecodePatch(r.Patch)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("patch does not apply: %v", err)
	}
	var got corev1.Pod
	if err := json.Unmarshal(patched, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.InitContainers) != 2 || got.Spec.InitContainers[0].Name != inject.InitName ||
		got.Spec.InitContainers[1].Name != inject.ProxyName {
		t.Errorf("init containers = %v", got.Spec.InitContainers)
	}
	if hg := got.Spec.Containers[0].ReadinessProbe.HTTPGet; hg == nil || hg.Path != "/app-health/web/readyz" || hg.Port.IntValue() != inject.HealthPort {
		t.Errorf("readiness probe not rewritten: %+v", got.Spec.Containers[0].ReadinessProbe)
	}
	if _, ok := got.Annotations[inject.AnnotationStatus]; !ok {
		t.Error("no status annotation")
	}
	if n := testutil.ToFloat64(m.injections); n != 1 {
		t.Errorf("injections = %v, want 1", n)
	}
	if n := testutil.ToFloat64(m.reviews); n != 1 {
		t.Errorf("reviews = %v, want 1", n)
	}
}

func TestReviewsThatAreNotInjectedAreAllowedUnchanged(t *testing.T) {
	tests := []struct {
		name        string
		pod         *corev1.Pod
		op          admissionv1.Operation
		wantSkip    string
		wantError   string
		wantWarning string
	}{
		{name: "updates are not injected", pod: testPod(nil), op: admissionv1.Update, wantSkip: skipNotPodCreate},
		{name: "an opted-out pod is skipped", op: admissionv1.Create, wantSkip: string(inject.SkipOptOut),
			pod: testPod(func(p *corev1.Pod) { p.Annotations = map[string]string{inject.LabelInject: "disabled"} })},
		{name: "a hostNetwork pod is skipped", op: admissionv1.Create, wantSkip: string(inject.SkipHostNetwork),
			pod: testPod(func(p *corev1.Pod) { p.Spec.HostNetwork = true })},
		{name: "an injected pod is skipped", op: admissionv1.Create, wantSkip: string(inject.SkipInjected),
			pod: testPod(func(p *corev1.Pod) { p.Annotations = map[string]string{inject.AnnotationStatus: "{}"} })},
		{name: "a pod with a bad annotation is allowed with a warning", op: admissionv1.Create, wantError: errInvalid,
			wantWarning: "outrider.io/log-level",
			pod:         testPod(func(p *corev1.Pod) { p.Annotations = map[string]string{inject.AnnotationLogLevel: "loud"} })},
		{name: "an app running as UID 1337 is allowed with a warning", op: admissionv1.Create, wantError: errRefused,
			wantWarning: "runs as UID 1337",
			pod: testPod(func(p *corev1.Pod) {
				p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1337)}
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, m := newTestServer(t, &inject.Config{Version: "test"})
			code, out := post(t, srv.URL, reviewFor(t, tt.pod, tt.op))
			if code != 200 {
				t.Fatalf("status %d", code)
			}
			r := out.Response
			if !r.Allowed || r.Patch != nil || r.PatchType != nil {
				t.Errorf("want allowed without patch, got %+v", r)
			}
			if tt.wantSkip != "" {
				if n := testutil.ToFloat64(m.skips.WithLabelValues(tt.wantSkip)); n != 1 {
					t.Errorf("skips{%s} = %v, want 1", tt.wantSkip, n)
				}
			}
			if tt.wantError != "" {
				if n := testutil.ToFloat64(m.errors.WithLabelValues(tt.wantError)); n != 1 {
					t.Errorf("errors{%s} = %v, want 1", tt.wantError, n)
				}
			}
			if tt.wantWarning != "" {
				if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], tt.wantWarning) || strings.Contains(r.Warnings[0], "\n") {
					t.Errorf("warnings = %q, want one line mentioning %q", r.Warnings, tt.wantWarning)
				}
			}
		})
	}
}

func TestMalformedReviewsGetAnErrorResponseNotACrash(t *testing.T) {
	pod, _ := json.Marshal(testPod(nil))
	tests := []struct {
		name     string
		body     string
		wantCode int
		wantErr  string
	}{
		{name: "not JSON", body: "{{{", wantCode: 400, wantErr: errMalformedReview},
		{name: "no request", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, wantCode: 400, wantErr: errMalformedReview},
		{name: "a request without uid", body: `{"request":{"operation":"CREATE"}}`, wantCode: 400, wantErr: errMalformedReview},
		{name: "a pod that does not decode", wantCode: 200, wantErr: errBadPod,
			body: `{"request":{"uid":"1","operation":"CREATE","resource":{"version":"v1","resource":"pods"},"object":{"spec":{"containers":"nope"}}}}`},
		{name: "a nil injector panics inside and answers 500", wantCode: 500, wantErr: errPanic,
			body: `{"request":{"uid":"1","operation":"CREATE","resource":{"version":"v1","resource":"pods"},"object":` + string(pod) + `}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			injector := &inject.Config{}
			if tt.wantErr == errPanic {
				injector = nil
			}
			srv, m := newTestServer(t, injector)
			code, _ := post(t, srv.URL, []byte(tt.body))
			if code != tt.wantCode {
				t.Errorf("status = %d, want %d", code, tt.wantCode)
			}
			if n := testutil.ToFloat64(m.errors.WithLabelValues(tt.wantErr)); n != 1 {
				t.Errorf("errors{%s} = %v, want 1", tt.wantErr, n)
			}
			// The server keeps answering.
			if code, _ := post(t, srv.URL, []byte("{}")); code != 400 {
				t.Errorf("next review: status %d", code)
			}
		})
	}
}

// BenchmarkReviewOfATypicalPod measures one admission review end to end in the handler:
// decode the review and the pod, compute the typed patch, encode the response.
func BenchmarkReviewOfATypicalPod(b *testing.B) {
	h := &Handler{Injector: &inject.Config{Version: "bench"}, Metrics: NewMetrics(prometheus.NewRegistry())}
	body := reviewFor(b, testPod(func(p *corev1.Pod) {
		p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODE", Value: "prod"}, {Name: "REGION", Value: "eu"}}
		p.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web"}}}}}
	}), admissionv1.Create)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, InjectPath, bytes.NewReader(body)))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
