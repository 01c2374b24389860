package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/outrider-mesh/outrider/internal/proctest"
	"github.com/outrider-mesh/outrider/webhook/certs"
)

const (
	installNS   = "outrider-system"
	secretName  = "outrider-webhook-tls"
	webhookName = "outrider-injector" // the name the shipped RBAC allows
	webhookSA   = "system:serviceaccount:outrider-system:outrider-webhook"
)

var installOnce sync.Once

// installRBAC creates the shipped namespace, service account and RBAC (once per run).
func installRBAC(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	var err error
	installOnce.Do(func() { err = applyInstallRBAC(c) })
	if err != nil {
		t.Fatal(err)
	}
}

func applyInstallRBAC(c kubernetes.Interface) error {
	ctx := context.Background()
	for _, f := range []string{"namespace.yaml", "serviceaccount.yaml", "rbac.yaml"} {
		raw, err := os.ReadFile("../manifests/" + f)
		if err != nil {
			return err
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			var b json.RawMessage
			if err := dec.Decode(&b); err != nil {
				break
			}
			var obj metav1.TypeMeta
			if err := json.Unmarshal(b, &obj); err != nil {
				return err
			}
			switch obj.Kind {
			case "Namespace":
				var o corev1.Namespace
				err = decodeInto(b, &o)
				if err == nil {
					_, err = c.CoreV1().Namespaces().Create(ctx, &o, metav1.CreateOptions{})
				}
			case "ServiceAccount":
				var o corev1.ServiceAccount
				err = decodeInto(b, &o)
				if err == nil {
					_, err = c.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, &o, metav1.CreateOptions{})
				}
			case "Role":
				var o rbacv1.Role
				err = decodeInto(b, &o)
				if err == nil {
					_, err = c.RbacV1().Roles(o.Namespace).Create(ctx, &o, metav1.CreateOptions{})
				}
			case "RoleBinding":
				var o rbacv1.RoleBinding
				err = decodeInto(b, &o)
				if err == nil {
					_, err = c.RbacV1().RoleBindings(o.Namespace).Create(ctx, &o, metav1.CreateOptions{})
				}
			case "ClusterRole":
				var o rbacv1.ClusterRole
				err = decodeInto(b, &o)
				if err == nil {
					_, err = c.RbacV1().ClusterRoles().Create(ctx, &o, metav1.CreateOptions{})
				}
			case "ClusterRoleBinding":
				var o rbacv1.ClusterRoleBinding
				err = decodeInto(b, &o)
				if err == nil {
					_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, &o, metav1.CreateOptions{})
				}
			}
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		}
	}
	return nil
}

// asWebhook returns a client with exactly the webhook's permissions.
func asWebhook(cfg *rest.Config) kubernetes.Interface {
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: webhookSA}
	return kubernetes.NewForConfigOrDie(cfg)
}

func TestSelfManagedCertificateReplicasAgreeOnOneSecret(t *testing.T) {
	cfg := cluster(t)
	admin := kubernetes.NewForConfigOrDie(cfg)
	installRBAC(t, admin)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The webhook is served by replica A; the configuration starts without a caBundle,
	// as `kubectl apply -k manifests/` leaves it.
	var logs proctest.Output
	log := slog.New(slog.NewTextHandler(&logs, nil))
	replicas := make([]*certs.SelfManaged, 2)
	for i := range replicas {
		replicas[i] = &certs.SelfManaged{
			Log:    log.With("replica", i),
			Client: asWebhook(cfg), Namespace: installNS, Name: secretName, WebhookConfig: webhookName,
			DNSNames: []string{"outrider-webhook.outrider-system.svc"}, IPs: []net.IP{net.ParseIP("127.0.0.1")},
			Resync: time.Minute,
		}
	}
	url := serveWebhook(t, replicas[0].GetCertificate)
	registerWebhook(t, admin, webhookName, "selfmanaged", url, nil, "")
	namespace(t, admin, "self-managed", map[string]string{testLabel: "selfmanaged", "outrider.io/inject": "enabled"})

	t.Run("two replicas starting at once create one Secret and load the same CA", func(t *testing.T) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, len(replicas))
		for i, r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = r.Ensure(ctx)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
		}
		if !bytes.Equal(replicas[0].CA(), replicas[1].CA()) {
			t.Fatal("the replicas loaded different CAs")
		}
		if n := strings.Count(logs.String(), "created webhook certificate secret"); n != 1 {
			t.Errorf("the Secret was created %d times, want once:\n%s", n, logs.String())
		}
		s, err := admin.CoreV1().Secrets(installNS).Get(ctx, secretName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.Data["ca.crt"], replicas[0].CA()) || s.Type != corev1.SecretTypeTLS {
			t.Error("the Secret does not hold the CA the replicas use")
		}
	})

	for _, r := range replicas {
		go r.Run(ctx)
	}

	t.Run("the replicas fill in the caBundle and the API server trusts the webhook", func(t *testing.T) {
		eventually(t, 30*time.Second, "caBundle synced", func() (bool, error) {
			c, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhookName, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, w := range c.Webhooks {
				if !bytes.Equal(w.ClientConfig.CABundle, replicas[0].CA()) {
					return false, nil
				}
			}
			return true, nil
		})
		waitActive(t, admin, "self-managed")
	})

	t.Run("a deleted Secret is recreated with a new CA that every replica and the caBundle follow", func(t *testing.T) {
		old := replicas[0].CA()
		if err := admin.CoreV1().Secrets(installNS).Delete(ctx, secretName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "replicas on a new, common CA", func() (bool, error) {
			a, b := replicas[0].CA(), replicas[1].CA()
			return !bytes.Equal(a, old) && bytes.Equal(a, b), nil
		})
		waitActive(t, admin, "self-managed")
	})

	t.Run("the webhook's service account can touch nothing else", func(t *testing.T) {
		c := asWebhook(cfg)
		checks := []struct {
			name string
			call func() error
		}{
			{"list all secrets", func() error {
				_, err := c.CoreV1().Secrets(installNS).List(ctx, metav1.ListOptions{})
				return err
			}},
			{"read another secret", func() error {
				_, err := c.CoreV1().Secrets(installNS).Get(ctx, "other", metav1.GetOptions{})
				return err
			}},
			{"read pods", func() error {
				_, err := c.CoreV1().Pods("self-managed").List(ctx, metav1.ListOptions{})
				return err
			}},
			{"read another webhook configuration", func() error {
				_, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "outrider-injector-selectors", metav1.GetOptions{})
				return err
			}},
		}
		for _, ch := range checks {
			if err := ch.call(); !apierrors.IsForbidden(err) {
				t.Errorf("%s: err = %v, want forbidden", ch.name, err)
			}
		}
	})
}
