package config

import (
	"fmt"
	"strings"
	"testing"
)

// manyClusters is a configuration with n STATIC clusters and one route to
// each, in YAML.
func manyClusters(n int) []byte {
	var routes, clusters strings.Builder
	for i := range n {
		fmt.Fprintf(&routes, "              - match: { prefix: /c%d/ }\n                route: { cluster: c%d, timeout: 5s }\n", i, i)
		fmt.Fprintf(&clusters, `  - name: c%d
    connect_timeout: 1s
    lb_policy: ROUND_ROBIN
    circuit_breakers: { thresholds: [{ max_connections: 100 }] }
    load_assignment:
      cluster_name: c%d
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 10.%d.%d.1, port_value: 8080 } } } }] }]
`, i, i, i/250, i%250)
	}
	return []byte(`static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
` + routes.String() + "  clusters:\n" + clusters.String())
}

func TestManyClustersLoad(t *testing.T) {
	b, err := Parse(manyClusters(100), "many.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b.GetStaticResources().GetClusters()); n != 100 {
		t.Errorf("%d clusters, want 100", n)
	}
}

func BenchmarkParse10000Clusters(b *testing.B) {
	data := manyClusters(10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, "many.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}
