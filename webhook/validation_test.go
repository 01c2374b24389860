package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outrider-mesh/outrider/inject"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
)

// objects decodes every object of a YAML stream, flattening Lists.
func objects(t *testing.T, src []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(src), 4096)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			break
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			t.Fatal(err)
		}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				t.Fatal(err)
			}
			for i := range list.Items {
				out = append(out, &list.Items[i])
			}
			continue
		}
		out = append(out, u)
	}
	return out
}

// dryRunCreate asks the API server to validate each object as a create, storing nothing.
// Kinds the server does not know (custom resources in the test inputs) are skipped.
func dryRunCreate(t *testing.T, name string, objs []*unstructured.Unstructured) {
	cfg := cluster(t)
	c := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg)))
	ctx := context.Background()
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ri := dyn.Resource(m.Resource)
		var r dynamic.ResourceInterface = ri
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := o.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			// Dry-run creates need the namespace to exist; it is kept for later tests
			// (without a namespace controller a deleted namespace never goes away).
			_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			r = ri.Namespace(ns)
		}
		_, err = r.Create(ctx, o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		if apierrors.IsAlreadyExists(err) {
			// Installed for real by another test: validate as an update instead.
			_, err = r.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "outrider-test", Force: true, DryRun: []string{metav1.DryRunAll}})
		}
		if err != nil {
			t.Errorf("%s: %s %s rejected: %v", name, gvk.Kind, o.GetName(), err)
		}
	}
}

func TestInjectedGoldenManifestsPassAPIServerValidation(t *testing.T) {
	files, err := filepath.Glob("../inject/testdata/*.injected.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dryRunCreate(t, f, objects(t, src))
		})
	}
	t.Run("classic sidecar injection with every annotation", func(t *testing.T) {
		src, err := os.ReadFile("../inject/testdata/annotations.yaml")
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := (&inject.Config{Version: "test", ClassicSidecar: true}).InjectYAML(bytes.ReplaceAll(src,
			[]byte(`native-sidecar: "true"`), []byte(`native-sidecar: "false"`)))
		if err != nil {
			t.Fatal(err)
		}
		dryRunCreate(t, "classic", objects(t, out))
	})
}

func TestInstallManifestsPassAPIServerValidation(t *testing.T) {
	var src []byte
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		// What users run: kustomize through kubectl.
		out, err := exec.Command(kubectl, "kustomize", "../manifests").Output()
		if err != nil {
			t.Fatalf("kubectl kustomize manifests: %v", err)
		}
		src = out
	} else {
		// Without kubectl, the files the kustomization lists.
		k, err := os.ReadFile("../manifests/kustomization.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var kust struct{ Resources []string }
		if err := yaml.Unmarshal(k, &kust); err != nil {
			t.Fatal(err)
		}
		for _, r := range kust.Resources {
			b, err := os.ReadFile(filepath.Join("../manifests", r))
			if err != nil {
				t.Fatal(err)
			}
			src = append(append(src, b...), "\n---\n"...)
		}
	}
	objs := objects(t, src)
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.GetKind()] = true
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
		"Service", "Deployment", "PodDisruptionBudget", "MutatingWebhookConfiguration"} {
		if !kinds[k] {
			t.Errorf("the install manifests have no %s", k)
		}
	}
	// The namespace itself is created for real (dry-run creates need it); the rest is dry run.
	installRBAC(t, kubernetes.NewForConfigOrDie(cluster(t)))
	var rest []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() != "Namespace" {
			rest = append(rest, o)
		}
	}
	dryRunCreate(t, "manifests", rest)
	if !strings.Contains(string(src), "replicas: 2") {
		t.Error("the webhook Deployment should run 2 replicas")
	}
}
