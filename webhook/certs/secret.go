package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Keys of the Secret; tls.crt and tls.key make it a valid kubernetes.io/tls Secret.
const (
	keyCACert = "ca.crt"
	keyCAKey  = "ca.key"
)

// SelfManaged keeps the CA and serving certificate in one Secret shared by every webhook
// replica, and the caBundle of the MutatingWebhookConfiguration equal to that CA.
//
// The first replica to create the Secret wins; the others find it exists and load it.
// Renewal works the same way through the Secret's resourceVersion: one replica's update
// succeeds, the others get a conflict and load the winner's certificate.
type SelfManaged struct {
	// Client talks to the API server; required.
	Client kubernetes.Interface
	// Namespace and Name of the Secret; required.
	Namespace, Name string
	// WebhookConfig is the MutatingWebhookConfiguration whose caBundle is kept in sync;
	// empty means none.
	WebhookConfig string
	// DNSNames and IPs the serving certificate must cover.
	DNSNames []string
	IPs      []net.IP
	// Resync is how often everything is re-checked besides on changes; zero means 10 minutes.
	Resync time.Duration
	// Log; nil means slog.Default().
	Log *slog.Logger
	// Now; nil means time.Now. Tests move time to force renewal.
	Now func() time.Time

	cert atomic.Pointer[tls.Certificate]
	ca   atomic.Pointer[[]byte]
}

// GetCertificate returns the current serving certificate (nil before the first Ensure).
func (m *SelfManaged) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.cert.Load(), nil
}

// CA returns the PEM CA certificate in use, nil before the first Ensure.
func (m *SelfManaged) CA() []byte {
	if p := m.ca.Load(); p != nil {
		return *p
	}
	return nil
}

func (m *SelfManaged) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *SelfManaged) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

// Ensure makes the Secret hold a usable bundle, creating or renewing it if needed, and
// loads it. Safe to run in several replicas at once.
func (m *SelfManaged) Ensure(ctx context.Context) error {
	secrets := m.Client.CoreV1().Secrets(m.Namespace)
	var lastErr error
	// Each turn either succeeds or lost a race to another replica; the next turn sees
	// the winner's Secret.
	for range 5 {
		s, err := secrets.Get(ctx, m.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			b, err := NewBundle(nil, m.DNSNames, m.IPs, m.now())
			if err != nil {
				return err
			}
			_, err = secrets.Create(ctx, m.secret(b, nil), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				lastErr = err
				continue
			}
			if err != nil {
				return fmt.Errorf("certs: creating secret %s/%s: %w", m.Namespace, m.Name, err)
			}
			m.log().Info("certs: created webhook certificate secret", "secret", m.Namespace+"/"+m.Name)
			return m.load(b)
		}
		if err != nil {
			return fmt.Errorf("certs: reading secret %s/%s: %w", m.Namespace, m.Name, err)
		}
		b := fromSecret(s)
		problem := b.check(m.DNSNames, m.IPs, m.now())
		if problem == nil {
			return m.load(b)
		}
		nb, err := NewBundle(b, m.DNSNames, m.IPs, m.now())
		if err != nil {
			return err
		}
		_, err = secrets.Update(ctx, m.secret(nb, s), metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			lastErr = err
			continue
		}
		if err != nil {
			return fmt.Errorf("certs: renewing secret %s/%s: %w", m.Namespace, m.Name, err)
		}
		m.log().Info("certs: renewed webhook certificate", "secret", m.Namespace+"/"+m.Name, "why", problem.Error())
		return m.load(nb)
	}
	return fmt.Errorf("certs: secret %s/%s keeps changing: %w", m.Namespace, m.Name, lastErr)
}

func (m *SelfManaged) load(b *Bundle) error {
	c, err := b.TLS()
	if err != nil {
		return err
	}
	ca := b.CACert
	m.cert.Store(c)
	m.ca.Store(&ca)
	return nil
}

// secret builds the Secret for b, as an update of old when given.
func (m *SelfManaged) secret(b *Bundle, old *corev1.Secret) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "outrider-webhook"}},
		Type: corev1.SecretTypeTLS,
	}
	if old != nil {
		s = old.DeepCopy()
	}
	s.Data = map[string][]byte{keyCACert: b.CACert, keyCAKey: b.CAKey, corev1.TLSCertKey: b.Cert, corev1.TLSPrivateKeyKey: b.Key}
	return s
}

func fromSecret(s *corev1.Secret) *Bundle {
	return &Bundle{CACert: s.Data[keyCACert], CAKey: s.Data[keyCAKey], Cert: s.Data[corev1.TLSCertKey], Key: s.Data[corev1.TLSPrivateKeyKey]}
}

// SyncCABundle sets the caBundle of every webhook in the configuration to the CA in use.
// The configuration missing is not an error: it may not be installed yet.
func (m *SelfManaged) SyncCABundle(ctx context.Context) error {
	ca := m.CA()
	if m.WebhookConfig == "" || ca == nil {
		return nil
	}
	cfgs := m.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	for range 5 {
		c, err := cfgs.Get(ctx, m.WebhookConfig, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("certs: reading %s: %w", m.WebhookConfig, err)
		}
		changed := false
		for i := range c.Webhooks {
			if !bytes.Equal(c.Webhooks[i].ClientConfig.CABundle, ca) {
				c.Webhooks[i].ClientConfig.CABundle = ca
				changed = true
			}
		}
		if !changed {
			return nil
		}
		_, err = cfgs.Update(ctx, c, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue // another replica or `kubectl apply` got there first: look again
		}
		if err != nil {
			return fmt.Errorf("certs: updating caBundle of %s: %w", m.WebhookConfig, err)
		}
		m.log().Info("certs: updated caBundle", "webhookconfiguration", m.WebhookConfig)
		return nil
	}
	return fmt.Errorf("certs: %s keeps changing", m.WebhookConfig)
}

// Run keeps the Secret and the caBundle right until ctx ends: on every change to either
// (a replica renewed the certificate, `kubectl apply` reset the caBundle, someone deleted
// the Secret) and every Resync.
func (m *SelfManaged) Run(ctx context.Context) error {
	resync := m.Resync
	if resync == 0 {
		resync = 10 * time.Minute
	}
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	watchOne(ctx, m.Client.CoreV1().RESTClient(), "secrets", m.Namespace, m.Name, &corev1.Secret{}, handler)
	if m.WebhookConfig != "" {
		watchOne(ctx, m.Client.AdmissionregistrationV1().RESTClient(), "mutatingwebhookconfigurations", "",
			m.WebhookConfig, &admissionregistrationv1.MutatingWebhookConfiguration{}, handler)
	}
	tick := time.NewTicker(resync)
	defer tick.Stop()
	for {
		err := m.Ensure(ctx)
		if err == nil {
			err = m.SyncCABundle(ctx)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			m.log().Warn("certs: reconcile failed; will retry", "err", err)
			go func() { // retry soon, not only at the next change
				select {
				case <-time.After(5 * time.Second):
					poke()
				case <-ctx.Done():
				}
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-tick.C:
		}
	}
}

// watchOne runs an informer on the single named object, so that RBAC can be limited to
// that object's name.
func watchOne(ctx context.Context, c cache.Getter, resource, namespace, name string, obj runtime.Object, h cache.ResourceEventHandler) {
	lw := cache.NewListWatchFromClient(c, resource, namespace, fields.OneTermEqualSelector("metadata.name", name))
	_, inf := cache.NewInformerWithOptions(cache.InformerOptions{ListerWatcher: lw, ObjectType: obj, Handler: h})
	go inf.RunWithContext(ctx)
}
