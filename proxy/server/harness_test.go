package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// startProxy runs a Server in-process from a YAML bootstrap and returns it
// with the address of its listener named "main".
func startProxy(t *testing.T, yaml string) (*Server, string) {
	t.Helper()
	b, err := config.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s := New(Options{Load: func() (*bootstrapv3.Bootstrap, error) { return b, nil }, DrainTime: time.Second})
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Close)
	ap, ok := s.ListenerAddr("main")
	if !ok {
		t.Fatal("no listener named main")
	}
	return s, ap.String()
}

// counter reads a counter by its Envoy name.
func counter(s *Server, name string) uint64 {
	var v uint64
	s.Stats().Each(func(c *stats.Counter) {
		if c.Name == name {
			v = c.Value()
		}
	}, nil, nil)
	return v
}

// httpBackend serves h on loopback and returns its address.
func httpBackend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// endpoint renders a load_assignment endpoint for addr.
func endpoint(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("{endpoint: {address: {socket_address: {address: %s, port_value: %s}}}}", host, port)
}

// httpProxyConfig is a bootstrap with one HTTP listener "main" on a free
// port whose virtual host holds routesYAML (indented list items), and the
// given clusters (indented list items).
func httpProxyConfig(routesYAML, clustersYAML string) string {
	return `static_resources:
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: main
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
` + routesYAML + `
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
` + clustersYAML
}

func staticCluster(name string, extra string, addrs ...string) string {
	var eps []string
	for _, a := range addrs {
		eps = append(eps, "        - "+endpoint(a))
	}
	return fmt.Sprintf(`  - name: %s
    connect_timeout: 1s
%s    load_assignment:
      cluster_name: %s
      endpoints:
      - lb_endpoints:
%s
`, name, extra, name, strings.Join(eps, "\n"))
}

func get(t *testing.T, client *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}
