// Package inject adds the Outrider sidecar to pod specs, and removes it again.
//
// It is pure: given a pod template it returns a JSON Patch (RFC 6902) that the admission
// webhook sends to the API server as is and that `outrider inject` applies to YAML
// documents, so both paths share one implementation and one set of golden files. The
// patch is built from typed values, never by diffing serialised objects.
package inject

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Names and numbers shared with outrider-proxy and outrider-init.
const (
	ProxyName  = "outrider-proxy"
	InitName   = "outrider-init"
	CertVolume = "outrider-certs"
	CertPath   = "/var/run/outrider/certs"

	ProxyUID    = 1337
	HealthPort  = 15021
	MetricsPort = 15090
	ReadyPath   = "/healthz/ready"
	MetricsPath = "/stats/prometheus"

	// DefaultRepository is the proxy image without its tag; the tag is the version.
	DefaultRepository = "ghcr.io/outrider-mesh/proxy"
)

// Config holds the mesh-wide injection settings. Annotations on a pod override most of
// them (see annotations.go). The zero value injects with the documented defaults.
type Config struct {
	// Version is recorded in the status annotation and tags the default image; empty means "dev".
	Version string
	// ProxyImage runs outrider-proxy; empty means DefaultRepository:Version.
	ProxyImage string
	// InitImage runs outrider-init; empty means ProxyImage (one image holds both binaries).
	InitImage string
	// ImagePullPolicy of both containers; empty leaves it to Kubernetes' default.
	ImagePullPolicy corev1.PullPolicy
	// ClassicSidecar turns native sidecars off by default: the proxy then runs as the
	// first regular container. False means native sidecars (Kubernetes 1.29+).
	ClassicSidecar bool
	// LogLevel of the proxy; empty means "info".
	LogLevel string
	// DrainTime of the proxy at shutdown; zero means 5s. It is shortened to fit each
	// pod's terminationGracePeriodSeconds.
	DrainTime time.Duration
	// Proxy resources; nil means the defaults below. A zero quantity means "not set".
	ProxyCPU, ProxyMemory, ProxyCPULimit, ProxyMemoryLimit *resource.Quantity
}

// Defaults: small requests, a memory limit (so GOMEMLIMIT has something to follow) and no
// CPU limit, because CFS throttling of a proxy shows up as tail latency for every request.
var (
	defaultCPU         = resource.MustParse("50m")
	defaultMemory      = resource.MustParse("64Mi")
	defaultMemoryLimit = resource.MustParse("256Mi")
	initCPU            = resource.MustParse("10m")
	initMemory         = resource.MustParse("16Mi")
	initMemoryLimit    = resource.MustParse("64Mi")
)

const (
	defaultDrain    = 5 * time.Second
	defaultLogLevel = "info"
	// defaultGrace is Kubernetes' terminationGracePeriodSeconds default.
	defaultGrace = 30 * time.Second
)

// Validate reports every setting of c that would produce a broken pod.
func (c *Config) Validate() error {
	var errs []error
	if c.LogLevel != "" && !logLevels[c.LogLevel] {
		errs = append(errs, fmt.Errorf("inject: log level %q: want one of trace, debug, info, warning, error, critical, off", c.LogLevel))
	}
	if c.DrainTime < 0 {
		errs = append(errs, fmt.Errorf("inject: drain time %s is negative", c.DrainTime))
	}
	switch c.ImagePullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("inject: image pull policy %q: want Always, IfNotPresent or Never", c.ImagePullPolicy))
	}
	for name, q := range map[string]*resource.Quantity{"cpu": c.ProxyCPU, "memory": c.ProxyMemory, "cpu limit": c.ProxyCPULimit, "memory limit": c.ProxyMemoryLimit} {
		if q != nil && q.Sign() < 0 {
			errs = append(errs, fmt.Errorf("inject: proxy %s %s is negative", name, q))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) version() string {
	if c.Version == "" {
		return "dev"
	}
	return c.Version
}

func (c *Config) proxyImage() string {
	if c.ProxyImage != "" {
		return c.ProxyImage
	}
	return DefaultRepository + ":" + c.version()
}

func (c *Config) initImage(proxyImage string) string {
	if c.InitImage != "" {
		return c.InitImage
	}
	return proxyImage
}

func orDefault(q *resource.Quantity, d resource.Quantity) *resource.Quantity {
	if q != nil {
		return q
	}
	return &d
}
