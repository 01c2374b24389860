package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/outrider-mesh/outrider/version"
	"github.com/outrider-mesh/outrider/webhook"
	"github.com/outrider-mesh/outrider/webhook/certs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func runWebhook(ctx context.Context, args []string, env *stdio) error {
	fs := newFlags("webhook", "[flags]", env)
	listen := fs.String("listen", ":9443", "HTTPS address for admission reviews ("+webhook.InjectPath+") and /healthz")
	metricsListen := fs.String("metrics-listen", ":9090", "plain-HTTP address for /metrics and /healthz; empty disables it")
	tlsDir := fs.String("tls-dir", "", "directory with tls.crt and tls.key, reloaded when it changes (cert-manager, a mounted Secret); empty: self-managed")
	secret := fs.String("secret", "outrider-webhook-tls", "self-managed mode: Secret holding the CA and serving certificate, shared by all replicas")
	namespace := fs.String("namespace", os.Getenv("POD_NAMESPACE"), "self-managed mode: namespace of the Secret (default $POD_NAMESPACE)")
	webhookConfig := fs.String("webhook-config", "outrider-injector", "self-managed mode: MutatingWebhookConfiguration whose caBundle is kept in sync; empty: none")
	service := fs.String("service", "outrider-webhook", "self-managed mode: Service name the certificate is issued for (<service>.<namespace>.svc)")
	dnsNames := fs.String("cert-dns-names", "", "self-managed mode: extra comma-separated DNS names for the certificate")
	ips := fs.String("cert-ips", "", "self-managed mode: comma-separated IP addresses for the certificate")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file; empty: in-cluster configuration")
	logLevel := fs.String("v", "info", "webhook log level: debug, info, warn or error")
	config := injectorFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	injector, err := config()
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-v: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(env.err, &slog.HandlerOptions{Level: level}))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := &webhook.Server{
		Handler:  &webhook.Handler{Injector: injector, Metrics: webhook.NewMetrics(reg), Log: log},
		Gatherer: reg,
		Log:      log,
	}
	g, ctx := errgroup.WithContext(ctx)

	if *tlsDir != "" {
		dir, err := certs.NewDir(*tlsDir, log)
		if err != nil {
			return err
		}
		srv.GetCertificate = dir.GetCertificate
		g.Go(func() error { return dir.Run(ctx) })
	} else {
		if *namespace == "" {
			return errors.New("self-managed certificates need -namespace (or $POD_NAMESPACE), or use -tls-dir")
		}
		client, err := kubeClient(*kubeconfig)
		if err != nil {
			return err
		}
		names := []string{*service + "." + *namespace + ".svc", *service + "." + *namespace + ".svc.cluster.local"}
		names = append(names, splitList(*dnsNames)...)
		var addrs []net.IP
		for _, s := range splitList(*ips) {
			ip := net.ParseIP(s)
			if ip == nil {
				return fmt.Errorf("-cert-ips: %q is not an IP address", s)
			}
			addrs = append(addrs, ip)
		}
		m := &certs.SelfManaged{Client: client, Namespace: *namespace, Name: *secret, WebhookConfig: *webhookConfig,
			DNSNames: names, IPs: addrs, Log: log}
		// Serve only with a certificate: load (or create) it before listening.
		if err := m.Ensure(ctx); err != nil {
			return err
		}
		srv.GetCertificate = m.GetCertificate
		g.Go(func() error { return m.Run(ctx) })
	}

	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	log.Info("webhook: serving", "addr", l.Addr().String(), "path", webhook.InjectPath, "version", injector.Version)
	g.Go(func() error { return srv.ServeTLS(ctx, l) })
	if *metricsListen != "" {
		ml, err := net.Listen("tcp", *metricsListen)
		if err != nil {
			l.Close()
			return fmt.Errorf("webhook: %w", err)
		}
		g.Go(func() error { return srv.ServeMetrics(ctx, ml) })
	}
	return g.Wait()
}

func kubeClient(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("webhook: kubernetes client: %w", err)
	}
	cfg.UserAgent = "outrider-webhook/" + version.String()
	return kubernetes.NewForConfig(cfg)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
