package sidecar

import (
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/outrider-mesh/outrider/proxy/admin"
	"github.com/outrider-mesh/outrider/proxy/apphealth"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Paths served on the sidecar's own ports.
const (
	ReadyPath      = "/healthz/ready"    // HealthPort: the kubelet's readiness probe
	PrometheusPath = "/stats/prometheus" // MetricsPort: the scrape target
)

// Endpoints are what the sidecar's ports serve.
type Endpoints struct {
	// Ready answers ReadyPath: the server's admin.ReadyHandler (200 while
	// LIVE, 503 once draining or after POST /healthcheck/fail).
	Ready http.Handler
	// AppHealth answers the application's rewritten probes below
	// apphealth.PathPrefix; nil means every such path is 404.
	AppHealth http.Handler
	// Stats is exposed on PrometheusPath.
	Stats *stats.Store
}

// Ports are the sidecar's health and metrics listeners. They listen on
// every address of the pod: the kubelet probes, and Prometheus scrapes,
// the pod's IP. The redirect rules leave both ports alone.
type Ports struct {
	health, metrics *admin.Server
}

// ListenPorts starts serving e on o's HealthPort and MetricsPort (zero
// means 15021 and 15090).
func ListenPorts(o Options, e Endpoints) (*Ports, error) {
	o = o.withDefaults()
	if e.Ready == nil || e.Stats == nil {
		return nil, errors.New("sidecar: the health port needs Ready and the metrics port Stats")
	}
	hmux := http.NewServeMux()
	hmux.Handle(ReadyPath, e.Ready)
	if e.AppHealth != nil {
		hmux.Handle(apphealth.PathPrefix, e.AppHealth)
	}
	mmux := http.NewServeMux()
	mmux.Handle(PrometheusPath, admin.PrometheusHandler(e.Stats))

	health, err := admin.Listen(net.JoinHostPort("", strconv.Itoa(int(o.HealthPort))), hmux)
	if err != nil {
		return nil, err
	}
	metrics, err := admin.Listen(net.JoinHostPort("", strconv.Itoa(int(o.MetricsPort))), mmux)
	if err != nil {
		health.Close()
		return nil, err
	}
	return &Ports{health: health, metrics: metrics}, nil
}

// HealthAddr and MetricsAddr are where the ports listen.
func (p *Ports) HealthAddr() net.Addr  { return p.health.Addr() }
func (p *Ports) MetricsAddr() net.Addr { return p.metrics.Addr() }

// Close stops both ports and closes their connections.
func (p *Ports) Close() error {
	return errors.Join(p.health.Close(), p.metrics.Close())
}
