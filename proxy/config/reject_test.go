package config

import (
	"strings"
	"testing"
)

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name  string
		parts map[string]string // inserted into base
		raw   string            // the whole input instead
		// want lists every problem, in order, as "path: message" prefixes.
		want []string
	}{
		// Decoding.
		{
			name:  "an unknown field is reported with its path",
			parts: map[string]string{"CLUSTER": "lb_polcy: RANDOM"},
			want:  []string{cluster0 + `.lb_polcy: unknown field "lb_polcy" in envoy.config.cluster.v3.Cluster`},
		},
		{
			name:  "an unknown field inside a typed_config is reported below typed_config",
			parts: map[string]string{"HCM": "stat_prefx: x"},
			want:  []string{hcm0 + `.stat_prefx: unknown field "stat_prefx"`},
		},
		{
			name:  "a value of the wrong type is reported",
			parts: map[string]string{"HCM": "xff_num_trusted_hops: many"},
			want:  []string{hcm0 + ".xff_num_trusted_hops: invalid value for uint32"},
		},
		{
			name:  "a duration without its unit is reported",
			parts: map[string]string{"HCM": "stream_idle_timeout: 5"},
			want:  []string{hcm0 + `.stream_idle_timeout: invalid duration 5: write seconds with an "s" suffix`},
		},
		{
			name:  "a scalar where a message belongs is reported",
			parts: map[string]string{"HCM": "common_http_protocol_options: 5"},
			want:  []string{hcm0 + ".common_http_protocol_options: want an object, got a number"},
		},
		{
			name:  "an unknown enum name is reported",
			parts: map[string]string{"CLUSTER": "lb_policy: ROUND_ROBN"},
			want:  []string{cluster0 + ".lb_policy: invalid value for enum"},
		},
		{
			name:  "two members of a oneof are rejected",
			parts: map[string]string{"ROUTES": "- match: { prefix: /a, path: /a }\n  route: { cluster: backend }"},
			want:  []string{routes0 + "[0].match.path: only one of prefix and path may be set"},
		},
		{
			name:  "a field written under both of its names is rejected",
			parts: map[string]string{"HCM": "statPrefix: again"},
			want:  []string{hcm0 + ".stat_prefix: set twice"},
		},
		{
			name: "an unknown @type is reported at the element that holds it",
			parts: map[string]string{"FILTERS": `
- name: acme.custom
  typed_config: { "@type": type.googleapis.com/acme.Custom }`},
			want: []string{hcm0 + ".http_filters[0]: acme.custom is not supported"},
		},
		{
			name: "an unsupported http filter is named by its filter name",
			parts: map[string]string{"FILTERS": `
- name: envoy.filters.http.lua
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
    default_source_code: { inline_string: "function envoy_on_request(h) end" }`},
			want: []string{hcm0 + ".http_filters[0]: envoy.filters.http.lua is not supported"},
		},
		{
			name: "a planned http filter is not supported yet",
			parts: map[string]string{"FILTERS": `
- name: envoy.filters.http.fault
  typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault }`},
			want: []string{hcm0 + ".http_filters[0]: envoy.filters.http.fault is not supported yet"},
		},
		{
			name: "a typed_config in the wrong place is rejected",
			parts: map[string]string{"FILTERS": `
- name: envoy.filters.network.tcp_proxy
  typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: x, cluster: backend }`},
			want: []string{hcm0 + ".http_filters[0]: envoy.filters.network.tcp_proxy cannot be used here (expected envoy.filters.http.router, outrider.filters.http.destination_stats)"},
		},
		{
			name:  "a typed_config without @type is rejected",
			parts: map[string]string{"FILTERS": "- name: envoy.filters.http.router\n  typed_config: {}"},
			want:  []string{hcm0 + ".http_filters[0].typed_config: @type is required"},
		},
		{
			name:  "an unsupported map key is rejected",
			parts: map[string]string{"CLUSTER": "typed_extension_protocol_options:\n  acme.options: { \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions }"},
			want:  []string{cluster0 + `.typed_extension_protocol_options["acme.options"]: key "acme.options" is not supported`},
		},

		// The supported subset.
		{
			name:  "a field outside the subset is rejected",
			parts: map[string]string{"LISTENER": "per_connection_buffer_limit_bytes: 1024"},
			want:  []string{listener0 + ".per_connection_buffer_limit_bytes: per_connection_buffer_limit_bytes is not supported"},
		},
		{
			name:  "fields planned in other issues are not supported yet",
			parts: map[string]string{"CLUSTER": "outlier_detection: {}\nhealth_checks: [{ timeout: 1s }]\ntransport_socket_matches: [{ name: by-label }]"},
			want: []string{
				cluster0 + ".outlier_detection: outlier_detection is not supported yet",
				cluster0 + ".health_checks: health_checks is not supported yet",
				cluster0 + ".transport_socket_matches: transport_socket_matches is not supported yet",
			},
		},
		{
			name:  "dynamic configuration is not supported yet",
			parts: map[string]string{"ROOT": "dynamic_resources: { ads_config: { api_type: GRPC } }"},
			want:  []string{"dynamic_resources: dynamic_resources is not supported yet"},
		},
		{
			name: "routes from RDS are not supported yet",
			raw: `static_resources:
  listeners:
  - address: { socket_address: { address: 127.0.0.1, port_value: 1 } }
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: x
          rds: { route_config_name: r, config_source: { ads: {} } }
          http_filters: [{ name: r, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]`,
			want: []string{hcm0 + ".rds: rds is not supported yet"},
		},
		{
			name:  "a field with a supported replacement gives a hint",
			parts: map[string]string{"CLUSTER": "http2_protocol_options: {}"},
			want:  []string{cluster0 + ".http2_protocol_options: http2_protocol_options is not supported; use typed_extension_protocol_options"},
		},
		{
			name:  "an enum value outside the subset is rejected",
			parts: map[string]string{"CLUSTER": "lb_policy: MAGLEV"},
			want:  []string{cluster0 + ".lb_policy: lb_policy MAGLEV is not supported (supported: ROUND_ROBIN, LEAST_REQUEST, RANDOM, CLUSTER_PROVIDED)"},
		},
		{
			name:  "nothing is reported inside an unsupported field",
			parts: map[string]string{"CLUSTER": "outlier_detection: { consecutive_5xx: -1, bogus: 1 }"},
			want:  []string{cluster0 + ".outlier_detection: outlier_detection is not supported yet"},
		},

		// Envoy's own constraints (protoc-gen-validate).
		{
			name:  "a constraint violation is reported at its field",
			parts: map[string]string{"CLUSTERS": "- name: negative\n  connect_timeout: -1s"},
			want:  []string{"static_resources.clusters[1].connect_timeout: value must be greater than 0s"},
		},
		{
			name:  "a constraint violation inside a typed_config is reported with the full path",
			parts: map[string]string{"ROUTES": "- match: { prefix: /x }\n  direct_response: { status: 99 }"},
			want:  []string{routes0 + "[0].direct_response.status: value must be inside range [200, 600)"},
		},
		{
			name:  "a missing required oneof is reported by its name",
			parts: map[string]string{"ROUTES": "- route: { cluster: backend }"},
			want:  []string{routes0 + "[0].match: value is required"},
		},

		// Cross-field rules.
		{
			name:  "duplicate cluster names are rejected",
			parts: map[string]string{"CLUSTERS": "- name: backend\n  connect_timeout: 1s"},
			want:  []string{"static_resources.clusters[1].name: duplicate cluster name \"backend\" (also clusters[0])"},
		},
		{
			name:  "an ORIGINAL_DST cluster needs lb_policy CLUSTER_PROVIDED and no load_assignment",
			parts: map[string]string{"CLUSTERS": "- name: od\n  type: ORIGINAL_DST\n  load_assignment: { cluster_name: od }"},
			want: []string{
				"static_resources.clusters[1].lb_policy: lb_policy ROUND_ROBIN is not valid for an ORIGINAL_DST cluster: it requires CLUSTER_PROVIDED",
				"static_resources.clusters[1].load_assignment: an ORIGINAL_DST cluster must not have a load_assignment",
			},
		},
		{
			name:  "CLUSTER_PROVIDED needs an ORIGINAL_DST cluster",
			parts: map[string]string{"CLUSTER": "lb_policy: CLUSTER_PROVIDED"},
			want:  []string{cluster0 + ".lb_policy: lb_policy CLUSTER_PROVIDED is only valid for an ORIGINAL_DST cluster"},
		},
		{
			name: "a STATIC cluster needs IP addresses and ports",
			parts: map[string]string{"CLUSTERS": `
- name: named
  load_assignment:
    cluster_name: named
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: backend.svc } } } }] }]`},
			want: []string{
				"static_resources.clusters[1].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_specifier: value is required",
				"static_resources.clusters[1].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: a STATIC cluster needs IP addresses, got \"backend.svc\"",
			},
		},
		{
			name:  "an endpoint port of 0 is rejected",
			parts: map[string]string{"CLUSTERS": "- name: zero\n  load_assignment: { cluster_name: zero, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 0 } } } }] }] }"},
			want:  []string{"static_resources.clusters[1].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: an endpoint needs a port"},
		},
		{
			name: "a LOGICAL_DNS cluster needs exactly one endpoint",
			parts: map[string]string{"CLUSTERS": `
- name: dns
  type: LOGICAL_DNS
  load_assignment:
    cluster_name: dns
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: a.svc, port_value: 80 } } } }, { endpoint: { address: { socket_address: { address: b.svc, port_value: 80 } } } }] }]`},
			want: []string{"static_resources.clusters[1].load_assignment.endpoints: a LOGICAL_DNS cluster needs exactly one endpoint, got 2"},
		},
		{
			name:  "circuit breakers take one thresholds entry",
			parts: map[string]string{"CLUSTER": "circuit_breakers: { thresholds: [{ max_connections: 1 }, { max_connections: 2 }] }"},
			want:  []string{cluster0 + ".circuit_breakers.thresholds[1]: only one thresholds entry (priority DEFAULT) is allowed"},
		},
		{
			name:  "the router must be the last http filter",
			parts: map[string]string{"FILTERS": "- name: envoy.filters.http.router\n  typed_config: { \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }"},
			want:  []string{hcm0 + ".http_filters[0]: envoy.filters.http.router must be the last http filter"},
		},
		{
			name:  "an http filter needs a typed_config",
			parts: map[string]string{"FILTERS": "- name: envoy.filters.http.cors"},
			want:  []string{hcm0 + ".http_filters[0].typed_config: typed_config is required"},
		},
		{
			name:  "a route to an unknown cluster is rejected",
			parts: map[string]string{"ROUTES": "- match: { prefix: /x }\n  route: { cluster: nope }"},
			want:  []string{routes0 + "[0].route.cluster: unknown cluster \"nope\""},
		},
		{
			name: "weights must not add up to zero",
			parts: map[string]string{"ROUTES": `
- match: { prefix: /x }
  route: { weighted_clusters: { clusters: [{ name: backend, weight: 0 }] } }`},
			want: []string{routes0 + "[0].route.weighted_clusters.clusters: the sum of the weights must be greater than 0"},
		},
		{
			name: "total_weight must be the sum of the weights",
			parts: map[string]string{"ROUTES": `
- match: { prefix: /x }
  route: { weighted_clusters: { total_weight: 100, clusters: [{ name: backend, weight: 10 }] } }`},
			want: []string{routes0 + "[0].route.weighted_clusters.total_weight: total_weight 100 is not the sum of the weights (10)"},
		},
		{
			name:  "an unsupported retry_on condition is rejected",
			parts: map[string]string{"ROUTES": "- match: { prefix: /x }\n  route: { cluster: backend, retry_policy: { retry_on: \"5xx,envoy-ratelimited\" } }"},
			want:  []string{routes0 + "[0].route.retry_policy.retry_on: retry_on condition \"envoy-ratelimited\" is not supported"},
		},
		{
			name:  "only websocket upgrades are supported",
			parts: map[string]string{"HCM": "upgrade_configs: [{ upgrade_type: CONNECT }]"},
			want:  []string{hcm0 + ".upgrade_configs[0].upgrade_type: upgrade type \"CONNECT\" is not supported (supported: websocket)"},
		},
		{
			name: "a tcp_proxy to an unknown cluster is rejected",
			parts: map[string]string{"LISTENERS": `
- name: tcp
  address: { socket_address: { address: 127.0.0.1, port_value: 10001 } }
  filter_chains:
  - filters:
    - name: envoy.filters.network.tcp_proxy
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: tcp, cluster: nope }`},
			want: []string{"static_resources.listeners[1].filter_chains[0].filters[0].typed_config.cluster: unknown cluster \"nope\""},
		},
		{
			name: "listeners need unique names and addresses, as IP literals",
			parts: map[string]string{"LISTENERS": `
- name: http
  address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
  default_filter_chain: { filters: [{ name: tcp, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: backend } }] }
- name: local
  address: { socket_address: { address: localhost, port_value: 10002 } }
  default_filter_chain: { filters: [{ name: tcp, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: backend } }] }`},
			want: []string{
				"static_resources.listeners[1].name: duplicate listener name \"http\" (also listeners[0])",
				"static_resources.listeners[1].address: address 127.0.0.1:10000 is already used by listeners[0]",
				"static_resources.listeners[2].address.socket_address.address: want an IP address, got \"localhost\"",
			},
		},
		{
			name: "a listener needs a filter chain",
			parts: map[string]string{"LISTENERS": `
- name: empty
  address: { socket_address: { address: 127.0.0.1, port_value: 10001 } }`},
			want: []string{"static_resources.listeners[1].filter_chains: a listener needs filter_chains or a default_filter_chain"},
		},
		{
			name: "two filter chains with the same match are rejected",
			parts: map[string]string{"LISTENERS": `
- name: tcp
  address: { socket_address: { address: 127.0.0.1, port_value: 10001 } }
  filter_chains:
  - filter_chain_match: { destination_port: 80 }
    filters: [{ name: tcp, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: backend } }]
  - filter_chain_match: { destination_port: 80 }
    filters: [{ name: tcp, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: backend } }]`},
			want: []string{"static_resources.listeners[1].filter_chains[1].filter_chain_match: filter_chains[0] has the same filter_chain_match"},
		},
		{
			name: "a terminal network filter must be the last one",
			parts: map[string]string{"LISTENERS": `
- name: tcp
  address: { socket_address: { address: 127.0.0.1, port_value: 10001 } }
  filter_chains:
  - filters:
    - { name: a, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: backend } }
    - { name: b, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: backend } }`},
			want: []string{"static_resources.listeners[1].filter_chains[0].filters[0]: envoy.filters.network.tcp_proxy is a terminal filter: it must be the last filter of the chain"},
		},
		{
			name: "a CIDR range must fit its address",
			parts: map[string]string{"LISTENERS": `
- name: tcp
  address: { socket_address: { address: 127.0.0.1, port_value: 10001 } }
  filter_chains:
  - filter_chain_match: { prefix_ranges: [{ address_prefix: 10.0.0.0, prefix_len: 33 }, { address_prefix: ten }] }
    filters: [{ name: tcp, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: backend } }]`},
			want: []string{
				"static_resources.listeners[1].filter_chains[0].filter_chain_match.prefix_ranges[0].prefix_len: prefix_len 33 is longer than the address (32 bits)",
				"static_resources.listeners[1].filter_chains[0].filter_chain_match.prefix_ranges[1].address_prefix: want an IP address, got \"ten\"",
			},
		},

		// The document itself.
		{
			name: "invalid YAML is reported with its line",
			raw:  "admin:\n  address: [\n",
			want: []string{"invalid YAML: line 2"},
		},
		{
			name: "an empty document is rejected",
			raw:  "# nothing\n",
			want: []string{"test.yaml is empty"},
		},
		{
			name: "a document that is not a mapping is rejected",
			raw:  "- a\n- b\n",
			want: []string{"test.yaml must hold a Bootstrap (a mapping), not a list"},
		},
		{
			name: "a second YAML document is rejected",
			raw:  "admin: {}\n---\nadmin: {}\n",
			want: []string{"invalid YAML: line 2: a second document"},
		},
		{
			name: "aliases that expand without bound are rejected",
			raw:  "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
			want: []string{"invalid YAML: the document is too large once its aliases are expanded"},
		},
		{
			name: "an alias that contains itself is rejected",
			raw:  "a: &a [*a]\n",
			want: []string{"invalid YAML: line 1: nested too deeply"},
		},
		{
			name: "a key that is not a scalar is rejected",
			raw:  "? [a, b]\n: c\n",
			want: []string{"invalid YAML: line 1: a key must be a scalar"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.raw
			if in == "" {
				in = configWith(tt.parts)
			}
			b, err := Parse([]byte(in), "test.yaml")
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", in)
			}
			if b != nil {
				t.Errorf("Parse returned a Bootstrap with its error")
			}
			got := problems(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s…", i, got[i], tt.want[i])
				}
			}
		})
	}
}
