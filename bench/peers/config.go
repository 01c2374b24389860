// Package peers runs the proxies a benchmark compares, one hop each in
// front of the backend: Outrider, HAProxy and nginx, each given one CPU's
// worth of workers and the same job (no logs, no retries, keep-alive
// upstream). It renders their configuration files from templates and
// starts, pins, watches and stops their processes.
package peers

import (
	"bytes"
	"embed"
	"fmt"
	"net"
	"strconv"
	"text/template"
)

// Kind names a proxy.
type Kind string

const (
	Outrider Kind = "outrider"
	HAProxy  Kind = "haproxy"
	Nginx    Kind = "nginx"
)

// Kinds lists every proxy in the order the tables show them.
var Kinds = []Kind{Outrider, HAProxy, Nginx}

// Addr is a TCP address as the templates need it: whole or in parts.
type Addr struct {
	Host string
	Port int
}

func (a Addr) String() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// ParseAddr splits host:port.
func ParseAddr(s string) (Addr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Addr{}, fmt.Errorf("peers: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return Addr{}, fmt.Errorf("peers: port of %q: %w", s, err)
	}
	return Addr{Host: host, Port: p}, nil
}

// Upstreams are the backend's listeners.
type Upstreams struct {
	HTTP Addr // HTTP/1.1 and h2c
	GRPC Addr // gRPC (h2c)
	TCP  Addr // opaque TCP sink
}

// Ports are where a proxy listens, all on 127.0.0.1.
type Ports struct {
	Admin int // Outrider's admin API; unused by the others
	HTTP1 int // HTTP/1.1 in, HTTP/1.1 out
	H2    int // h2c in, h2c out (nginx: HTTP/1.1 out)
	GRPC  int // gRPC in, gRPC out
	TCP   int // opaque TCP
}

// Config is what a proxy's configuration file says.
type Config struct {
	Upstreams Upstreams
	Ports     Ports
	// Services adds that many extra services, each one cluster (upstream,
	// backend) with one endpoint and one virtual host with one route, to
	// measure how memory grows with the size of the mesh. They are never
	// sent traffic; their endpoints are on 127.2.0.0/16.
	Services int
	// Dir is the proxy's working directory (nginx's pid and temp files).
	Dir string
	// NginxStreamModule is the path of nginx's dynamic stream module, or
	// empty when nginx has it built in.
	NginxStreamModule string
}

// Service is one extra mesh service.
type Service struct {
	Name     string
	Endpoint Addr
}

// HTTP2Listener is one of the two h2c listeners (h2, grpc).
type HTTP2Listener struct {
	Name     string
	Port     int
	Upstream Addr
}

// view is what the templates see.
type view struct {
	Config
	Services       []Service
	HTTP2Listeners []HTTP2Listener
}

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "templates/*.tmpl"))

var templateOf = map[Kind]string{
	Outrider: "outrider.yaml.tmpl",
	HAProxy:  "haproxy.cfg.tmpl",
	Nginx:    "nginx.conf.tmpl",
}

// Render returns the configuration file of kind for c.
func Render(kind Kind, c Config) ([]byte, error) {
	name, ok := templateOf[kind]
	if !ok {
		return nil, fmt.Errorf("peers: unknown proxy %q", kind)
	}
	v := view{
		Config: c,
		HTTP2Listeners: []HTTP2Listener{
			{Name: "h2", Port: c.Ports.H2, Upstream: c.Upstreams.HTTP},
			{Name: "grpc", Port: c.Ports.GRPC, Upstream: c.Upstreams.GRPC},
		},
	}
	for i := range c.Services {
		v.Services = append(v.Services, Service{
			Name:     fmt.Sprintf("svc-%05d", i),
			Endpoint: Addr{Host: fmt.Sprintf("127.2.%d.%d", i/250, 1+i%250), Port: 8080},
		})
	}
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, v); err != nil {
		return nil, fmt.Errorf("peers: render %s: %w", kind, err)
	}
	return b.Bytes(), nil
}
