package webhook_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/inject"
	"github.com/outrider-mesh/outrider/webhook"
	"github.com/outrider-mesh/outrider/webhook/certs"
	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// testLabel isolates each test's webhook configuration: its selectors also require this
// label with the test's own value on the namespace.
const testLabel = "outrider-test"

// serveWebhook runs the real webhook server on loopback until the test ends and returns
// its URL.
func serveWebhook(t *testing.T, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &webhook.Server{
		Handler:        &webhook.Handler{Injector: &inject.Config{Version: "test"}, Metrics: webhook.NewMetrics(prometheus.NewRegistry())},
		GetCertificate: getCert,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("webhook server: %v", err)
		}
	})
	return "https://" + l.Addr().String() + webhook.InjectPath
}

// registerWebhook installs manifests/mutatingwebhookconfiguration.yaml, as shipped, except
// that it calls url (with caBundle) instead of the in-cluster Service, is renamed, and
// its namespace selectors also require testLabel=scope.
func registerWebhook(t *testing.T, c kubernetes.Interface, name, scope, url string, caBundle []byte,
	policy admissionregistrationv1.FailurePolicyType) {
	t.Helper()
	raw, err := os.ReadFile("../manifests/mutatingwebhookconfiguration.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Name = name
	for i := range cfg.Webhooks {
		w := &cfg.Webhooks[i]
		w.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle}
		w.NamespaceSelector.MatchExpressions = append(w.NamespaceSelector.MatchExpressions,
			metav1.LabelSelectorRequirement{Key: testLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{scope}})
		if policy != "" {
			w.FailurePolicy = &policy
		}
	}
	ctx := context.Background()
	if _, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{})
	})
}

func appPod(name string, mut func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "example/app:1",
			Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstrName("http")}}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}},
		}}},
	}
	if mut != nil {
		mut(p)
	}
	return p
}

// injected reports whether the stored pod carries a complete, valid-looking injection.
func injected(t *testing.T, p *corev1.Pod) bool {
	t.Helper()
	_, hasStatus := p.Annotations[inject.AnnotationStatus]
	var proxy *corev1.Container
	for i := range p.Spec.InitContainers {
		if p.Spec.InitContainers[i].Name == inject.ProxyName {
			proxy = &p.Spec.InitContainers[i]
		}
	}
	if !hasStatus && proxy == nil {
		return false
	}
	// Injected: check it is the native-sidecar layout, in order, with probes rewritten.
	if !hasStatus || proxy == nil || len(p.Spec.InitContainers) < 2 ||
		p.Spec.InitContainers[0].Name != inject.InitName || p.Spec.InitContainers[1].Name != inject.ProxyName {
		t.Errorf("pod %s: incomplete injection: %v", p.Name, p.Spec.InitContainers)
	}
	if proxy.RestartPolicy == nil || *proxy.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("pod %s: proxy is not a native sidecar", p.Name)
	}
	for _, c := range p.Spec.Containers {
		if pr := c.LivenessProbe; pr != nil && (pr.HTTPGet == nil || pr.HTTPGet.Port.IntValue() != inject.HealthPort) {
			t.Errorf("pod %s: liveness probe of %s not rewritten: %+v", p.Name, c.Name, pr)
		}
	}
	return true
}

// warnings collects the API server's warnings for one client.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs, "\n")
}

// waitActive waits until the API server calls the webhook for a pod in ns (webhook
// configurations reach the API server's admission chain asynchronously).
func waitActive(t *testing.T, c kubernetes.Interface, ns string) {
	t.Helper()
	eventually(t, 30*time.Second, "webhook configuration active", func() (bool, error) {
		p, err := c.CoreV1().Pods(ns).Create(context.Background(), appPod("probe", nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err
		}
		_, ok := p.Annotations[inject.AnnotationStatus]
		return ok, nil
	})
}

func newBundle(t *testing.T, ca *certs.Bundle) *certs.Bundle {
	t.Helper()
	b, err := certs.NewBundle(ca, nil, []net.IP{net.ParseIP("127.0.0.1")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWebhookInjectsThePodsItsSelectorsChoose(t *testing.T) {
	cfg := cluster(t)
	warn := &warnings{}
	cfg.WarningHandler = warn
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()

	// Serving certificate from a directory laid out like a mounted Secret.
	dir := t.TempDir()
	first := newBundle(t, nil)
	writeSecretVolume(t, dir, "1", first)
	certDir, err := certs.NewDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go certDir.Run(runCtx)
	url := serveWebhook(t, certDir.GetCertificate)
	registerWebhook(t, c, "outrider-injector-selectors", "selectors", url, first.CACert, "")

	scope := map[string]string{testLabel: "selectors"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{testLabel: "selectors"}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	namespace(t, c, "meshed", with(map[string]string{inject.LabelInject: "enabled"}))
	namespace(t, c, "plain", scope)
	namespace(t, c, "opted-out", with(map[string]string{inject.LabelInject: "disabled"}))
	waitActive(t, c, "meshed")

	optIn := func(p *corev1.Pod) { p.Labels[inject.LabelInject] = "enabled" }
	tests := []struct {
		name, ns     string
		pod          *corev1.Pod
		wantInjected bool
		wantWarning  string
		check        func(*testing.T, *corev1.Pod)
	}{
		{name: "a pod in a labelled namespace is injected", ns: "meshed", pod: appPod("a", nil), wantInjected: true},
		{name: "a pod labelled disabled is not", ns: "meshed", pod: appPod("b", func(p *corev1.Pod) { p.Labels[inject.LabelInject] = "disabled" })},
		{name: "a pod annotated disabled is not", ns: "meshed", pod: appPod("c", func(p *corev1.Pod) {
			p.Annotations = map[string]string{inject.LabelInject: "disabled"}
		})},
		{name: "a hostNetwork pod is not", ns: "meshed", pod: appPod("d", func(p *corev1.Pod) { p.Spec.HostNetwork = true })},
		{name: "a pod running as UID 1337 is created without the sidecar and a warning", ns: "meshed",
			pod: appPod("e", func(p *corev1.Pod) {
				p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1337)}
			}), wantWarning: "runs as UID 1337"},
		{name: "a pod with a bad annotation is created without the sidecar and a warning", ns: "meshed",
			pod:         appPod("f", func(p *corev1.Pod) { p.Annotations = map[string]string{inject.AnnotationDrainTime: "soon"} }),
			wantWarning: "outrider.io/drain-time"},
		{name: "a pod with its own init containers, volumes and annotations keeps them after ours", ns: "meshed", wantInjected: true,
			pod: appPod("busy", func(p *corev1.Pod) {
				p.Annotations = map[string]string{"team": "web"}
				p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox:1.36"}}
				p.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			}), check: func(t *testing.T, p *corev1.Pod) {
				if n := len(p.Spec.InitContainers); n != 3 || p.Spec.InitContainers[2].Name != "setup" {
					t.Errorf("init containers = %v, want outrider-init, outrider-proxy, setup", p.Spec.InitContainers)
				}
				if len(p.Spec.Volumes) != 2 || p.Spec.Volumes[0].Name != "cache" || p.Annotations["team"] != "web" {
					t.Errorf("the pod's own volumes or annotations changed: %v %v", p.Spec.Volumes, p.Annotations)
				}
			}},
		{name: "a pod in an unlabelled namespace is not", ns: "plain", pod: appPod("g", nil)},
		{name: "a pod labelled enabled in an unlabelled namespace is", ns: "plain", pod: appPod("h", optIn), wantInjected: true},
		{name: "a namespace labelled disabled wins over the pod's label", ns: "opted-out", pod: appPod("i", optIn)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(warn.all())
			if _, err := c.CoreV1().Pods(tt.ns).Create(ctx, tt.pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			got, err := c.CoreV1().Pods(tt.ns).Get(ctx, tt.pod.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if inj := injected(t, got); inj != tt.wantInjected {
				t.Errorf("stored pod injected = %v, want %v", inj, tt.wantInjected)
			}
			if w := warn.all()[before:]; tt.wantWarning != "" && !strings.Contains(w, tt.wantWarning) {
				t.Errorf("warnings %q do not mention %q", w, tt.wantWarning)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}

	t.Run("kube-system is never injected, whatever the pod's label", func(t *testing.T) {
		// kube-system exists without our test label; give it one for this check.
		ns, err := c.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns.Labels[testLabel] = "selectors"
		if _, err := c.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		p, err := c.CoreV1().Pods("kube-system").Create(ctx, appPod("j", optIn), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Fatal(err)
		}
		if injected(t, p) {
			t.Error("a kube-system pod was injected")
		}
	})

	t.Run("a Deployment's pods are injected and its template stays untouched", func(t *testing.T) {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: appPod("web", nil).ObjectMeta, Spec: appPod("web", nil).Spec},
			},
		}
		d.Spec.Template.Name = ""
		if _, err := c.AppsV1().Deployments("meshed").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var pods *corev1.PodList
		eventually(t, 60*time.Second, "kube-controller-manager creates the Deployment's pods", func() (bool, error) {
			var err error
			pods, err = c.CoreV1().Pods("meshed").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			return err == nil && len(pods.Items) == 2, err
		})
		for i := range pods.Items {
			if !injected(t, &pods.Items[i]) {
				t.Errorf("pod %s of the Deployment is not injected", pods.Items[i].Name)
			}
		}
		stored, err := c.AppsV1().Deployments("meshed").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := stored.Spec.Template.Annotations[inject.AnnotationStatus]; ok || len(stored.Spec.Template.Spec.InitContainers) > 0 {
			t.Errorf("the Deployment's template was changed: %+v", stored.Spec.Template)
		}
	})

	t.Run("a rotated serving certificate is picked up without a restart", func(t *testing.T) {
		second := newBundle(t, first) // same CA, new key and certificate
		writeSecretVolume(t, dir, "2", second)
		want := leafSerial(t, second)
		addr := strings.TrimSuffix(strings.TrimPrefix(url, "https://"), webhook.InjectPath)
		eventually(t, 10*time.Second, "new certificate served", func() (bool, error) {
			got, err := servedSerial(addr, first.CACert)
			return got == want, err
		})
		if _, err := c.CoreV1().Pods("meshed").Create(ctx, appPod("after-rotation", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := c.CoreV1().Pods("meshed").Get(ctx, "after-rotation", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !injected(t, got) {
			t.Error("pod created after the rotation is not injected")
		}
	})
}

func TestWebhookOutageFollowsTheFailurePolicy(t *testing.T) {
	cfg := cluster(t)
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	tests := []struct {
		name    string
		policy  admissionregistrationv1.FailurePolicyType
		wantErr bool
	}{
		{name: "Ignore, as shipped, creates the pod without the sidecar", policy: ""},
		{name: "Fail refuses the pod", policy: admissionregistrationv1.Fail, wantErr: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scope := fmt.Sprintf("outage-%d", i)
			b := newBundle(t, nil)
			cert, err := b.TLS()
			if err != nil {
				t.Fatal(err)
			}
			// First prove the configuration is live: the webhook injects.
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &webhook.Server{
				Handler:        &webhook.Handler{Injector: &inject.Config{Version: "test"}, Metrics: webhook.NewMetrics(prometheus.NewRegistry())},
				GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil },
			}
			srvCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- srv.ServeTLS(srvCtx, l) }()
			defer func() { stop(); <-done }()
			registerWebhook(t, c, "outrider-injector-"+scope, scope, "https://"+l.Addr().String()+webhook.InjectPath, b.CACert, tt.policy)
			namespace(t, c, scope, map[string]string{testLabel: scope, inject.LabelInject: "enabled"})
			waitActive(t, c, scope)

			// Then take the webhook down.
			stop()
			<-done
			done <- nil
			created, err := c.CoreV1().Pods(scope).Create(ctx, appPod("x", nil), metav1.CreateOptions{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("create with the webhook down: err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				if !strings.Contains(err.Error(), "failed calling webhook") {
					t.Errorf("error %q does not say the webhook call failed", err)
				}
				return
			}
			if injected(t, created) {
				t.Error("pod injected although the webhook is down")
			}
		})
	}
}

func leafSerial(t *testing.T, b *certs.Bundle) string {
	t.Helper()
	c, err := b.TLS()
	if err != nil {
		t.Fatal(err)
	}
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return x.SerialNumber.String()
}

func servedSerial(addr string, ca []byte) (string, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}
