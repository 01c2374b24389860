package config

import (
	"errors"
	"strings"
	"testing"
)

// base is a small valid configuration with markers where a test inserts
// YAML: each "#NAME" line is replaced by the part of that name, indented
// like the marker.
const base = `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 9901 } }
#ROOT
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    #LISTENER
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          #HCM
          http_filters:
          #FILTERS
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
          route_config:
            name: local
            #ROUTE_CONFIG
            virtual_hosts:
            - name: app
              domains: ["*"]
              routes:
              #ROUTES
              - match: { prefix: / }
                route: { cluster: backend }
  #LISTENERS
  clusters:
  - name: backend
    connect_timeout: 1s
    load_assignment:
      cluster_name: backend
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } } }] }]
    #CLUSTER
  #CLUSTERS
`

// Paths into base.
const (
	listener0 = "static_resources.listeners[0]"
	hcm0      = listener0 + ".filter_chains[0].filters[0].typed_config"
	routes0   = hcm0 + ".route_config.virtual_hosts[0].routes"
	cluster0  = "static_resources.clusters[0]"
)

// configWith fills base's markers with parts.
func configWith(parts map[string]string) string {
	var out []string
	for _, line := range strings.Split(base, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if !strings.HasPrefix(trimmed, "#") {
			out = append(out, line)
			continue
		}
		indent := line[:len(line)-len(trimmed)]
		part, ok := parts[strings.TrimPrefix(trimmed, "#")]
		if !ok {
			continue
		}
		for _, p := range strings.Split(strings.Trim(part, "\n"), "\n") {
			out = append(out, indent+p)
		}
	}
	return strings.Join(out, "\n")
}

// problems returns each error of err as "path: message", without its line.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v (%T) is not a config.Errors", err, err)
	}
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = (&FieldError{Path: e.Path, Err: e.Err}).Error()
	}
	return out
}
