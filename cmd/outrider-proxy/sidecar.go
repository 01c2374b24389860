package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/outrider-mesh/outrider/proxy/apphealth"
	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/server"
	"github.com/outrider-mesh/outrider/proxy/sidecar"
)

// sidecarFlags are the flags of `outrider-proxy --sidecar` and
// `outrider-proxy bootstrap --sidecar`. Every one has an environment
// variable or a default, so that the injector only passes --sidecar.
type sidecarFlags struct {
	enabled          bool
	opaquePorts      string
	httpOnlyInbound  string
	detectionTimeout time.Duration
	ipv6             string
	accessLog        string
	ports            struct{ outbound, inbound, admin, health, metrics uint }
}

// addSidecarFlags defines the sidecar flags on fs.
func addSidecarFlags(fs *flag.FlagSet) *sidecarFlags {
	s := &sidecarFlags{}
	fs.BoolVar(&s.enabled, "sidecar", false, "run as a pod's sidecar with the built-in bootstrap (no -c); see docs/sidecar.md")
	fs.StringVar(&s.opaquePorts, "opaque-ports", "", "ports where protocol detection is off (server-first protocols), e.g. 25,3306,9000-9010, or none (default $"+sidecar.EnvOpaquePorts+", else 25,587,3306,4444,5432,6379,9300,11211)")
	fs.StringVar(&s.httpOnlyInbound, "http-only-inbound-ports", "", "inbound ports that refuse anything not detected as HTTP")
	fs.DurationVar(&s.detectionTimeout, "protocol-detection-timeout", 0, "how long to wait for a client's first bytes before treating the connection as TCP (default $"+sidecar.EnvDetectionTimeout+", else 500ms)")
	fs.StringVar(&s.ipv6, "ipv6", "auto", "IPv6 listeners beside the IPv4 ones: auto (when the host has IPv6), on or off")
	fs.StringVar(&s.accessLog, "access-log", "", "access log destination: empty for standard output, off, or a file path")
	fs.UintVar(&s.ports.outbound, "outbound-port", sidecar.DefaultOutboundPort, "port the redirect rules send outbound connections to")
	fs.UintVar(&s.ports.inbound, "inbound-port", sidecar.DefaultInboundPort, "port the redirect rules send inbound connections to")
	fs.UintVar(&s.ports.admin, "admin-port", sidecar.DefaultAdminPort, "admin API port (on 127.0.0.1)")
	fs.UintVar(&s.ports.health, "health-port", sidecar.DefaultHealthPort, "readiness and application-probe port (/healthz/ready, /app-health/…)")
	fs.UintVar(&s.ports.metrics, "metrics-port", sidecar.DefaultMetricsPort, "Prometheus port (/stats/prometheus)")
	return s
}

// options builds the sidecar options from the environment, then the flags.
func (s *sidecarFlags) options(getenv func(string) string) (sidecar.Options, error) {
	o, err := sidecar.FromEnv(getenv)
	if err != nil {
		return o, err
	}
	if s.opaquePorts != "" {
		if o.OpaquePorts, err = sidecar.ParsePorts(s.opaquePorts); err != nil {
			return o, fmt.Errorf("--opaque-ports: %w", err)
		}
	}
	if s.httpOnlyInbound != "" {
		if o.HTTPOnlyInboundPorts, err = sidecar.ParsePorts(s.httpOnlyInbound); err != nil {
			return o, fmt.Errorf("--http-only-inbound-ports: %w", err)
		}
	}
	if s.detectionTimeout < 0 {
		return o, errors.New("--protocol-detection-timeout must be positive")
	}
	if s.detectionTimeout > 0 {
		o.DetectionTimeout = s.detectionTimeout
	}
	switch s.ipv6 {
	case "on":
		o.DualStack = true
	case "off":
	case "auto":
		o.DualStack = hostHasIPv6()
	default:
		return o, fmt.Errorf("--ipv6 %q: want auto, on or off", s.ipv6)
	}
	o.AccessLog = s.accessLog
	for _, p := range []struct {
		name string
		v    uint
		dst  *uint16
	}{
		{"outbound", s.ports.outbound, &o.OutboundPort}, {"inbound", s.ports.inbound, &o.InboundPort},
		{"admin", s.ports.admin, &o.AdminPort}, {"health", s.ports.health, &o.HealthPort},
		{"metrics", s.ports.metrics, &o.MetricsPort},
	} {
		if p.v == 0 || p.v > 65535 {
			return o, fmt.Errorf("--%s-port %d: want 1-65535", p.name, p.v)
		}
		*p.dst = uint16(p.v)
	}
	return o, nil
}

// hostHasIPv6 reports whether this network namespace can listen on IPv6.
func hostHasIPv6() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// configure makes opts run the sidecar: the generated bootstrap and the
// pod identity in /server_info.
func (s *sidecarFlags) configure(opts *server.Options) (sidecar.Options, error) {
	o, err := s.options(os.Getenv)
	if err != nil {
		return o, err
	}
	b, err := sidecar.Bootstrap(o)
	if err != nil {
		return o, err
	}
	opts.Load = func() (*bootstrapv3.Bootstrap, error) { return b, nil }
	opts.Identity = o.Identity()
	return o, nil
}

// listen starts the health and metrics ports once srv is live.
func listenSidecarPorts(o sidecar.Options, srv *server.Server) (*sidecar.Ports, error) {
	cfg, err := apphealth.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	app, err := apphealth.New(cfg)
	if err != nil {
		return nil, err
	}
	return sidecar.ListenPorts(o, sidecar.Endpoints{
		Ready:     srv.Admin().ReadyHandler(),
		AppHealth: app,
		Stats:     srv.Stats(),
	})
}

// validateSidecar is `--sidecar --validate`: the generated bootstrap goes
// through the same checks as a file.
func validateSidecar(s *sidecarFlags, stdout, stderr io.Writer) int {
	o, err := s.options(os.Getenv)
	if err == nil {
		var b *bootstrapv3.Bootstrap
		if b, err = sidecar.Bootstrap(o); err == nil {
			var y []byte
			if y, err = sidecar.YAML(b); err == nil {
				_, err = config.Parse(y, "sidecar bootstrap")
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	fmt.Fprintln(stdout, "sidecar configuration OK")
	return 0
}
