// Package apphealth serves the application's own health probes through the proxy.
//
// The injector rewrites every liveness, readiness and startup probe of the application
// (HTTP, tcpSocket and gRPC alike) to GET :15021/app-health/<container>/<kind> and records
// the original probes in the proxy's environment (EnvProbes). The kubelet then asks the
// proxy, and the proxy runs the original probe against the application and answers with its
// result. This matters most for tcpSocket probes: with the redirect rules in place a TCP
// connect to the pod always succeeds (the proxy accepts it), so the kubelet's own check
// would say nothing about the application.
//
// This package is linked into outrider-proxy and must never import k8s.io packages: the
// probe description below is a small copy of the fields of Kubernetes' core/v1 Probe that
// matter here, with the same JSON names.
package apphealth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// EnvProbes is the environment variable of the proxy container holding the probes as
// JSON: an object from request path ("/app-health/web/livez") to Probe.
const EnvProbes = "OUTRIDER_APP_PROBES"

// EnvPodIP names the pod's IP; probes without a host go there, as the kubelet's do.
const EnvPodIP = "POD_IP"

// PathPrefix starts every path the handler serves.
const PathPrefix = "/app-health/"

// Probe is one original application probe. Exactly one of HTTPGet, TCPSocket and GRPC is set.
type Probe struct {
	HTTPGet   *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
	GRPC      *GRPCAction      `json:"grpc,omitempty"`
	// TimeoutSeconds bounds one run of the probe; zero means 1, Kubernetes' default.
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
}

// HTTPGetAction is an HTTP GET probe; success is a status in [200, 400).
type HTTPGetAction struct {
	// Path is the request path; empty means "/".
	Path string `json:"path,omitempty"`
	// Port is the application's port number (the injector resolves named ports).
	Port int `json:"port"`
	// Host overrides the address to connect to; empty means the pod IP.
	Host string `json:"host,omitempty"`
	// Scheme is "HTTP" or "HTTPS" (certificate not verified, as by the kubelet); empty means HTTP.
	Scheme string `json:"scheme,omitempty"`
	// HTTPHeaders are added to the request; a "Host" header sets the request's host.
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is one header of an HTTP probe.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction succeeds when a TCP connection to the port opens.
type TCPSocketAction struct {
	Port int `json:"port"`
	// Host overrides the address to connect to; empty means the pod IP.
	Host string `json:"host,omitempty"`
}

// GRPCAction calls grpc.health.v1.Health/Check; success is SERVING.
type GRPCAction struct {
	Port int `json:"port"`
	// Service is the service name sent in the request; nil means "" (the server as a whole).
	Service *string `json:"service,omitempty"`
}

// Config is what the handler serves.
type Config struct {
	// Probes maps a request path below PathPrefix to the probe run for it.
	Probes map[string]Probe
	// PodIP is where probes without a host connect; empty means 127.0.0.1.
	PodIP string
}

// ParseProbes decodes the value of EnvProbes. An empty value means no probes.
func ParseProbes(value string) (map[string]Probe, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var probes map[string]Probe
	dec := json.NewDecoder(strings.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&probes); err != nil {
		return nil, fmt.Errorf("apphealth: %s: %w", EnvProbes, err)
	}
	return probes, nil
}

// FromEnv builds the Config from the environment the injector wrote; getenv is usually os.Getenv.
func FromEnv(getenv func(string) string) (Config, error) {
	probes, err := ParseProbes(getenv(EnvProbes))
	if err != nil {
		return Config{}, err
	}
	return Config{Probes: probes, PodIP: getenv(EnvPodIP)}, nil
}

// validate reports every problem of the probe at path p.
func (pr Probe) validate(p string) error {
	var errs []error
	set := 0
	if pr.HTTPGet != nil {
		set++
		errs = append(errs, checkPort(p+".httpGet.port", pr.HTTPGet.Port))
		switch strings.ToUpper(pr.HTTPGet.Scheme) {
		case "", "HTTP", "HTTPS":
		default:
			errs = append(errs, fmt.Errorf("%s.httpGet.scheme: %q is neither HTTP nor HTTPS", p, pr.HTTPGet.Scheme))
		}
	}
	if pr.TCPSocket != nil {
		set++
		errs = append(errs, checkPort(p+".tcpSocket.port", pr.TCPSocket.Port))
	}
	if pr.GRPC != nil {
		set++
		errs = append(errs, checkPort(p+".grpc.port", pr.GRPC.Port))
	}
	if set != 1 {
		errs = append(errs, fmt.Errorf("%s: want exactly one of httpGet, tcpSocket, grpc, have %d", p, set))
	}
	if pr.TimeoutSeconds < 0 {
		errs = append(errs, fmt.Errorf("%s.timeoutSeconds: %d is negative", p, pr.TimeoutSeconds))
	}
	return errors.Join(errs...)
}

func checkPort(p string, port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("%s: %d is not a port number", p, port)
	}
	return nil
}

func (pr Probe) timeout() time.Duration {
	if pr.TimeoutSeconds <= 0 {
		return time.Second
	}
	return time.Duration(pr.TimeoutSeconds) * time.Second
}
