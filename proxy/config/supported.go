package config

import "github.com/outrider-mesh/outrider/proxy/deststats/deststatspb"

// This file is the supported subset of Envoy's v3 API: every field the
// proxy implements, message by message. A field that is set in a
// configuration and is not listed here is rejected at load with its path;
// nothing is silently ignored. Fields listed here are implemented with
// Envoy's semantics and Envoy's default when unset (docs/config.md says what
// each one does). Translators (listener, route, cluster, accesslog, …) may
// rely on never seeing a field that is missing from this table.
//
// The route configuration's rule sets are in supported_route.go, the TLS
// transport socket's in supported_tls.go; both are merged in at init.
//
// A rule set is named after the message's full name; a field may point to
// another rule set (as) when the same message is supported differently in
// two places, e.g. HTTP/1 options downstream (HCM) and upstream (cluster).

// fieldRule says that a field is supported and may narrow what it holds.
type fieldRule struct {
	// enums lists the accepted enum value names; nil accepts every value.
	enums []string
	// types lists the accepted message types of a google.protobuf.Any
	// field (or map of Any); each must be one of extensionNames.
	types []string
	// keys lists the accepted keys of a map field; nil accepts any key.
	keys []string
	// rules names the rule set of the field's message when it is not the
	// message's full name.
	rules string
}

var allow = fieldRule{}

func enum(values ...string) fieldRule { return fieldRule{enums: values} }
func typed(types ...string) fieldRule { return fieldRule{types: types} }
func as(rules string) fieldRule       { return fieldRule{rules: rules} }

// The typed_config types the proxy implements, by message full name.
const (
	typeHCM             = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	typeTCPProxy        = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
	typeRouter          = "envoy.extensions.filters.http.router.v3.Router"
	typeOriginalDst     = "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"
	typeTLSInspector    = "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
	typeHTTPInspector   = "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"
	typeFileLog         = "envoy.extensions.access_loggers.file.v3.FileAccessLog"
	typeStdoutLog       = "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
	typeStderrLog       = "envoy.extensions.access_loggers.stream.v3.StderrAccessLog"
	typeUpstreamHTTP    = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	typePreserveCase    = "envoy.extensions.http.header_formatters.preserve_case.v3.PreserveCaseFormatterConfig"
	typePreviousHosts   = "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
	typeDestStats       = deststatspb.FullName // Outrider's own HTTP filter (package deststats)
	typeURLPrefix       = "type.googleapis.com/"
	upstreamHTTPOptions = typeUpstreamHTTP // the typed_extension_protocol_options key
)

// extensionNames maps each supported typed_config type to the extension
// name Envoy users know it by (used in error messages and docs).
var extensionNames = map[string]string{
	typeHCM:           "envoy.filters.network.http_connection_manager",
	typeTCPProxy:      "envoy.filters.network.tcp_proxy",
	typeRouter:        "envoy.filters.http.router",
	typeOriginalDst:   "envoy.filters.listener.original_dst",
	typeTLSInspector:  "envoy.filters.listener.tls_inspector",
	typeHTTPInspector: "envoy.filters.listener.http_inspector",
	typeFileLog:       "envoy.access_loggers.file",
	typeStdoutLog:     "envoy.access_loggers.stdout",
	typeStderrLog:     "envoy.access_loggers.stderr",
	typeUpstreamHTTP:  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
	typePreserveCase:  "envoy.http.stateful_header_formatters.preserve_case",
	typePreviousHosts: "envoy.retry_host_predicates.previous_hosts",
	typeDestStats:     deststatspb.ExtensionName,
}

// accessLog is the access_log field wherever it appears.
var accessLog = allow

// supported is the allowlist: rule set → field name → rule.
var supported = map[string]map[string]fieldRule{
	// --- bootstrap -------------------------------------------------------
	"envoy.config.bootstrap.v3.Bootstrap": {
		"node":             allow, // descriptive: reported by /server_info
		"static_resources": allow,
		"admin":            allow,
	},
	"envoy.config.core.v3.Node": {
		"id":      allow, // descriptive
		"cluster": allow, // descriptive
	},
	"envoy.config.bootstrap.v3.Bootstrap.StaticResources": {
		"listeners": allow,
		"clusters":  allow,
	},
	"envoy.config.bootstrap.v3.Admin": {
		"address": allow, // where the admin API listens; no admin API when unset
	},
	"envoy.config.core.v3.Address": {
		"socket_address": allow, // pipes and internal addresses are not supported
	},
	"envoy.config.core.v3.SocketAddress": {
		"protocol":   enum("TCP"),
		"address":    allow, // an IP literal (listeners, STATIC endpoints, bind) or a DNS name (DNS clusters)
		"port_value": allow,
	},

	// --- listeners -------------------------------------------------------
	"envoy.config.listener.v3.Listener": {
		"name":                                 allow, // unique; descriptive
		"address":                              allow, // IPv4 or IPv6 socket_address
		"filter_chains":                        allow,
		"use_original_dst":                     allow, // hand redirected connections to the listener of their original destination
		"default_filter_chain":                 allow, // used when no filter chain matches
		"listener_filters":                     allow,
		"listener_filters_timeout":             allow, // default 15s; 0 disables
		"continue_on_listener_filters_timeout": allow, // default false: close on timeout
		"traffic_direction":                    allow, // INBOUND/OUTBOUND; drain_listeners?inboundonly uses it
		"bind_to_port":                         allow, // default true; false: only reachable through use_original_dst
	},
	"envoy.config.listener.v3.ListenerFilter": {
		"name":            allow,
		"typed_config":    typed(typeOriginalDst, typeTLSInspector, typeHTTPInspector),
		"filter_disabled": allow, // the filter is skipped for connections to these destination ports
	},
	"envoy.config.listener.v3.ListenerFilterChainMatchPredicate": {
		"or_match":               allow,
		"and_match":              allow,
		"not_match":              allow,
		"any_match":              allow,
		"destination_port_range": allow, // [start, end)
	},
	"envoy.config.listener.v3.ListenerFilterChainMatchPredicate.MatchSet": {
		"rules": allow,
	},
	"envoy.type.v3.Int32Range": {
		"start": allow,
		"end":   allow,
	},
	"envoy.config.listener.v3.FilterChain": {
		"name":               allow, // descriptive
		"filter_chain_match": allow,
		"filters":            allow,
		// transport_socket (TLS) and its timeout: supported_tls.go.
	},
	"envoy.config.listener.v3.FilterChainMatch": {
		"destination_port":      allow,
		"prefix_ranges":         allow, // destination IP
		"source_type":           allow, // ANY, SAME_IP_OR_LOOPBACK, EXTERNAL
		"source_prefix_ranges":  allow,
		"source_ports":          allow,
		"server_names":          allow, // SNI, from tls_inspector; "*.example.com" wildcards
		"transport_protocol":    allow, // "raw_buffer" or "tls", from tls_inspector
		"application_protocols": allow, // ALPN or http_inspector's "http/1.1", "h2c"
	},
	"envoy.config.core.v3.CidrRange": {
		"address_prefix": allow,
		"prefix_len":     allow,
	},
	"envoy.config.listener.v3.Filter": {
		"name":         allow,
		"typed_config": typed(typeHCM, typeTCPProxy),
	},
	typeOriginalDst:   {},
	typeTLSInspector:  {},
	typeHTTPInspector: {},

	// --- tcp_proxy -------------------------------------------------------
	typeTCPProxy: {
		"stat_prefix":       allow, // tcp.<stat_prefix>.* stats
		"cluster":           allow,
		"weighted_clusters": allow,
		"idle_timeout":      allow, // default 1h; 0 disables
		"access_log":        accessLog,
	},
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster": {
		"clusters": allow,
	},
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight": {
		"name":   allow,
		"weight": allow,
	},

	// --- http_connection_manager -----------------------------------------
	typeHCM: {
		"codec_type":                   enum("AUTO", "HTTP1", "HTTP2"),
		"stat_prefix":                  allow, // http.<stat_prefix>.* stats
		"route_config":                 allow, // inline routes; rds is not supported yet
		"http_filters":                 allow, // must end with envoy.filters.http.router
		"access_log":                   accessLog,
		"common_http_protocol_options": allow, // idle_timeout only (downstream)
		"http_protocol_options":        allow, // HTTP/1 downstream options
		"http2_protocol_options":       as("envoy.config.core.v3.Http2ProtocolOptions/downstream"),
		"server_name":                  allow, // Server header value, default "envoy"
		"server_header_transformation": allow, // default OVERWRITE; PASS_THROUGH keeps the upstream's
		"max_request_headers_kb":       allow, // default 60; larger requests get 431
		"stream_idle_timeout":          allow, // default 5m; 0 disables
		"request_timeout":              allow, // default disabled
		"request_headers_timeout":      allow, // default disabled; 408 when exceeded
		"use_remote_address":           allow, // default false
		"xff_num_trusted_hops":         allow, // default 0
		"generate_request_id":          allow, // default true
		"preserve_external_request_id": allow, // default false: edge requests get a new x-request-id
		// default false: x-request-id is not added to responses
		"always_set_request_id_in_response": allow,
		"skip_xff_append":                   allow, // default false: use_remote_address appends the peer to x-forwarded-for
		"via":                               allow, // default none: a Via value added to responses
		"upgrade_configs":                   allow, // websocket only
	},
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.UpgradeConfig": {
		"upgrade_type": allow, // "websocket" (checked in rules_listener.go)
		"enabled":      allow, // default true; a route's upgrade_configs may override it
	},
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter": {
		"name":         allow,
		"typed_config": typed(typeRouter, typeDestStats),
	},
	typeDestStats: {
		"stat_prefix":      allow, // required: destination.<stat_prefix>.* stats
		"max_destinations": allow, // default 256; later destinations count under "overflow"
	},
	typeRouter: {
		"suppress_envoy_headers":      allow, // default false: x-envoy-* headers are added
		"respect_expected_rq_timeout": allow, // default false: x-envoy-expected-rq-timeout-ms is not the route timeout
	},
	"envoy.config.core.v3.HttpProtocolOptions": { // downstream, in the HCM
		"idle_timeout": allow, // default 1h; 0 disables
	},
	"envoy.config.core.v3.Http1ProtocolOptions": { // downstream, in the HCM
		"accept_http_10":           allow, // default false: HTTP/1.0 gets 426
		"default_host_for_http_10": allow, // Host for HTTP/1.0 requests without one
		"header_key_format":        allow,
	},
	"envoy.config.core.v3.Http2ProtocolOptions/downstream": { // in the HCM
		"max_concurrent_streams":         allow, // default 1024 (Envoy: unbounded; each stream is a goroutine here)
		"initial_stream_window_size":     allow, // default 1 MiB (Envoy: 256 MiB)
		"initial_connection_window_size": allow, // default 1 MiB
	},
	"envoy.config.core.v3.Http1ProtocolOptions.HeaderKeyFormat": {
		"stateful_formatter": allow, // preserve_case only; proper_case_words is not supported
	},
	"envoy.config.core.v3.TypedExtensionConfig": { // as a stateful header formatter
		"name":         allow,
		"typed_config": typed(typePreserveCase),
	},
	typePreserveCase: {},

	// --- routes: supported_route.go ---------------------------------

	// --- clusters --------------------------------------------------------
	"envoy.config.cluster.v3.Cluster": {
		"name":                             allow, // unique
		"alt_stat_name":                    allow, // default: name; the name in stats (cluster.<alt_stat_name>.*)
		"metadata":                         allow, // descriptive: /config_dump shows it, nothing reads it
		"type":                             enum("STATIC", "STRICT_DNS", "LOGICAL_DNS", "ORIGINAL_DST"),
		"connect_timeout":                  allow, // default 5s
		"lb_policy":                        enum("ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "CLUSTER_PROVIDED"),
		"least_request_lb_config":          allow,
		"load_assignment":                  allow,
		"circuit_breakers":                 allow, // default 1024 connections, pending, requests; 3 retries
		"typed_extension_protocol_options": {keys: []string{upstreamHTTPOptions}, types: []string{typeUpstreamHTTP}},
		"dns_refresh_rate":                 allow, // default 5s (STRICT_DNS, LOGICAL_DNS)
		"dns_lookup_family":                allow, // default AUTO
		"cleanup_interval":                 allow, // default 5s (ORIGINAL_DST idle hosts)
		"upstream_bind_config":             allow, // source address of upstream connections
	},
	"envoy.config.core.v3.Metadata": {
		"filter_metadata": allow,
	},
	"envoy.config.cluster.v3.Cluster.LeastRequestLbConfig": {
		"choice_count": allow, // default 2
	},
	"envoy.config.endpoint.v3.ClusterLoadAssignment": {
		"cluster_name": allow, // descriptive
		"endpoints":    allow,
	},
	"envoy.config.endpoint.v3.LocalityLbEndpoints": {
		"lb_endpoints": allow,
	},
	"envoy.config.endpoint.v3.LbEndpoint": {
		"endpoint":              allow,
		"load_balancing_weight": allow, // default 1
		// default UNKNOWN (healthy); UNHEALTHY, DRAINING, TIMEOUT take the
		// host out of rotation unless fewer than half are healthy (panic)
		"health_status": enum("UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT"),
	},
	"envoy.config.endpoint.v3.Endpoint": {
		"address":  allow,
		"hostname": allow, // default: the DNS name (DNS clusters); auto_host_rewrite uses it
	},
	"envoy.config.cluster.v3.CircuitBreakers": {
		"thresholds": allow,
	},
	"envoy.config.cluster.v3.CircuitBreakers.Thresholds": {
		"priority":             enum("DEFAULT"),
		"max_connections":      allow, // default 1024
		"max_pending_requests": allow, // default 1024
		"max_requests":         allow, // default 1024
		"max_retries":          allow, // default 3
		"track_remaining":      allow, // default false: no circuit_breakers.default.remaining_* gauges
	},
	"envoy.config.core.v3.BindConfig": {
		"source_address": allow, // an IP literal; port 0 picks one
	},
	typeUpstreamHTTP: {
		"common_http_protocol_options":   as("envoy.config.core.v3.HttpProtocolOptions/upstream"),
		"explicit_http_config":           allow,
		"use_downstream_protocol_config": allow,
	},
	"envoy.config.core.v3.HttpProtocolOptions/upstream": {
		"idle_timeout":                allow, // default 1h
		"max_requests_per_connection": allow, // default unlimited
	},
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig": {
		"http_protocol_options":  as("envoy.config.core.v3.Http1ProtocolOptions/upstream"),
		"http2_protocol_options": allow, // prior-knowledge h2c
	},
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.UseDownstreamHttpConfig": {
		"http_protocol_options":  as("envoy.config.core.v3.Http1ProtocolOptions/upstream"),
		"http2_protocol_options": allow,
	},
	"envoy.config.core.v3.Http1ProtocolOptions/upstream": {
		"header_key_format": allow, // preserve_case: request headers keep the client's case
	},
	"envoy.config.core.v3.Http2ProtocolOptions": {}, // present means "use HTTP/2"; no setting is supported

	// --- access logs -----------------------------------------------------
	"envoy.config.accesslog.v3.AccessLog": {
		"name":         allow,
		"filter":       allow,
		"typed_config": typed(typeFileLog, typeStdoutLog, typeStderrLog),
	},
	"envoy.config.accesslog.v3.AccessLogFilter": {
		"status_code_filter":      allow,
		"duration_filter":         allow,
		"not_health_check_filter": allow,
		"response_flag_filter":    allow,
		"and_filter":              allow,
		"or_filter":               allow,
	},
	"envoy.config.accesslog.v3.StatusCodeFilter": {"comparison": allow},
	"envoy.config.accesslog.v3.DurationFilter":   {"comparison": allow},
	"envoy.config.accesslog.v3.ComparisonFilter": {
		"op":    allow,
		"value": allow,
	},
	"envoy.config.core.v3.RuntimeUInt32": {
		"default_value": allow,
		"runtime_key":   allow, // required by Envoy; there is no runtime, so default_value is used
	},
	"envoy.config.accesslog.v3.NotHealthCheckFilter": {},
	"envoy.config.accesslog.v3.ResponseFlagFilter":   {"flags": allow},
	"envoy.config.accesslog.v3.AndFilter":            {"filters": allow},
	"envoy.config.accesslog.v3.OrFilter":             {"filters": allow},
	typeFileLog: {
		"path":       allow,
		"log_format": allow, // default: Envoy's default text format
	},
	typeStdoutLog: {"log_format": allow},
	typeStderrLog: {"log_format": allow},
	"envoy.config.core.v3.SubstitutionFormatString": {
		"text_format":        allow,
		"text_format_source": as("envoy.config.core.v3.DataSource/format"),
		"json_format":        allow,
		"omit_empty_values":  allow,
		"content_type":       allow, // only matters for local replies, which do not use it
	},
	"envoy.config.core.v3.DataSource/format": {
		"inline_string": allow,
	},
}

// later lists fields that other issues will implement: they are rejected
// with "is not supported yet" rather than "is not supported".
var later = map[string]map[string]bool{
	"envoy.config.bootstrap.v3.Bootstrap":                 {"dynamic_resources": true},
	"envoy.config.bootstrap.v3.Bootstrap.StaticResources": {"secrets": true},
	"envoy.config.cluster.v3.Cluster": {
		"transport_socket_matches": true,
		"health_checks":            true,
		"outlier_detection":        true,
	},
	typeHCM: {"rds": true},
}

// hints explain how to say the same thing in the supported subset.
var hints = map[string]map[string]string{
	"envoy.config.cluster.v3.Cluster": {
		"http2_protocol_options":         "use typed_extension_protocol_options[\"" + upstreamHTTPOptions + "\"]",
		"http_protocol_options":          "use typed_extension_protocol_options[\"" + upstreamHTTPOptions + "\"]",
		"common_http_protocol_options":   "use typed_extension_protocol_options[\"" + upstreamHTTPOptions + "\"]",
		"max_requests_per_connection":    "use typed_extension_protocol_options[\"" + upstreamHTTPOptions + "\"]",
		"upstream_http_protocol_options": "use typed_extension_protocol_options[\"" + upstreamHTTPOptions + "\"]",
		"cluster_type":                   "use type",
	},
	"envoy.config.listener.v3.Filter":                                        {"config_discovery": "use typed_config"},
	"envoy.config.listener.v3.ListenerFilter":                                {"config_discovery": "use typed_config"},
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter": {"config_discovery": "use typed_config"},
}

// laterTypes are typed_config types other issues will implement.
var laterTypes = map[string]bool{
	"envoy.extensions.filters.http.fault.v3.HTTPFault":                true,
	"envoy.extensions.filters.http.rbac.v3.RBAC":                      true,
	"envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit": true,
	"envoy.extensions.filters.http.ratelimit.v3.RateLimit":            true,
}

// laterNames are the extension names of laterTypes, for configs whose
// typed_config type is unknown but whose name is familiar.
var laterNames = map[string]bool{
	"envoy.filters.http.fault":           true,
	"envoy.filters.http.rbac":            true,
	"envoy.filters.http.local_ratelimit": true,
	"envoy.filters.http.ratelimit":       true,
}

// retryOnTokens are the retry_on conditions the router implements.
var retryOnTokens = map[string]bool{
	"5xx":                    true,
	"gateway-error":          true,
	"reset":                  true,
	"connect-failure":        true,
	"retriable-4xx":          true,
	"refused-stream":         true,
	"retriable-status-codes": true,
	"cancelled":              true, // gRPC status, from grpc-status
	"deadline-exceeded":      true,
	"resource-exhausted":     true,
	"unavailable":            true,
}

// upgradeTypes are the HCM upgrade_configs upgrade_type values supported
// (compared case-insensitively, as Envoy does).
var upgradeTypes = map[string]bool{"websocket": true}
