package config

// The route configuration part of the supported subset (package route and
// the router), merged into the allowlist of supported.go.
var routeRules = map[string]map[string]fieldRule{
	"envoy.config.route.v3.RouteConfiguration": {
		"name":                       allow, // descriptive
		"virtual_hosts":              allow,
		"validate_clusters":          allow, // default true for inline routes: unknown clusters are load errors
		"request_headers_to_add":     allow,
		"request_headers_to_remove":  allow,
		"response_headers_to_add":    allow,
		"response_headers_to_remove": allow,
		// default false: the least specific level's header mutations win
		"most_specific_header_mutations_wins": allow,
		"max_direct_response_body_size_bytes": allow, // default 4096; larger direct_response bodies are load errors
		"ignore_port_in_host_matching":        allow, // default false: the port is part of the authority matched
	},
	"envoy.config.route.v3.VirtualHost": {
		"name":                       allow, // unique within the route config
		"domains":                    allow, // exact, "*.suffix", "prefix*", "*", with optional ":port"
		"routes":                     allow, // first match wins
		"retry_policy":               allow, // default for routes without one
		"request_headers_to_add":     allow,
		"request_headers_to_remove":  allow,
		"response_headers_to_add":    allow,
		"response_headers_to_remove": allow,
		// default false: x-envoy-attempt-count on upstream requests
		"include_request_attempt_count": allow,
		// default false: x-envoy-attempt-count on downstream responses
		"include_attempt_count_in_response": allow,
		// default 1 MiB: request body kept for retries; beyond it no retry
		"per_request_buffer_limit_bytes": allow,
	},
	"envoy.config.route.v3.Route": {
		"name":                       allow, // descriptive; %ROUTE_NAME% in access logs
		"match":                      allow,
		"route":                      allow,
		"redirect":                   allow,
		"direct_response":            allow,
		"request_headers_to_add":     allow,
		"request_headers_to_remove":  allow,
		"response_headers_to_add":    allow,
		"response_headers_to_remove": allow,
		// default: the virtual host's
		"per_request_buffer_limit_bytes": allow,
	},
	"envoy.config.route.v3.RouteMatch": {
		"prefix":                allow,
		"path":                  allow,
		"safe_regex":            allow, // RE2 syntax, matched against the whole path
		"path_separated_prefix": allow,
		"case_sensitive":        allow, // default true
		"headers":               allow, // all must match
		"query_parameters":      allow, // all must match
		"grpc":                  allow, // content-type application/grpc*
	},
	"envoy.config.route.v3.RouteMatch.GrpcRouteMatchOptions": {},
	"envoy.config.route.v3.HeaderMatcher": {
		"name":             allow,
		"exact_match":      allow,
		"prefix_match":     allow,
		"suffix_match":     allow,
		"contains_match":   allow,
		"safe_regex_match": allow,
		"present_match":    allow,
		"string_match":     allow,
		"invert_match":     allow,
		// default false: a missing header matches only present_match false
		// and inverted matchers; true matches it as the empty string
		"treat_missing_header_as_empty": allow,
	},
	"envoy.config.route.v3.QueryParameterMatcher": {
		"name":          allow,
		"string_match":  allow,
		"present_match": allow,
	},
	"envoy.type.matcher.v3.StringMatcher": {
		"exact":       allow,
		"prefix":      allow,
		"suffix":      allow,
		"contains":    allow,
		"safe_regex":  allow,
		"ignore_case": allow, // not with safe_regex (Envoy ignores it there)
	},
	"envoy.type.matcher.v3.RegexMatcher": {
		"regex":      allow, // RE2 syntax (Go's regexp)
		"google_re2": allow, // accepted for old configs; RE2 is the only engine
	},
	"envoy.type.matcher.v3.RegexMatcher.GoogleRE2": {},
	"envoy.type.matcher.v3.RegexMatchAndSubstitute": {
		"pattern":      allow,
		"substitution": allow, // \1-style group references
	},
	"envoy.config.route.v3.RouteAction": {
		"cluster":              allow,
		"cluster_header":       allow, // cluster named by a request header; 503 NC when unknown
		"weighted_clusters":    allow,
		"prefix_rewrite":       allow,
		"regex_rewrite":        allow,
		"host_rewrite_literal": allow,
		"auto_host_rewrite":    allow, // Host := the upstream host (DNS clusters: its hostname)
		"timeout":              allow, // default 15s; 0 disables
		"idle_timeout":         allow, // default: the HCM's stream_idle_timeout
		"retry_policy":         allow,
		// default SERVICE_UNAVAILABLE (503) when cluster_header names no cluster
		"cluster_not_found_response_code": allow,
		"upgrade_configs":                 allow, // websocket; overrides the HCM's for this route
	},
	"envoy.config.route.v3.RouteAction.UpgradeConfig": {
		"upgrade_type": allow, // "websocket" (checked in rules_route.go)
		"enabled":      allow, // default true
	},
	"envoy.config.route.v3.WeightedCluster": {
		"clusters":     allow,
		"total_weight": allow, // deprecated; when set it must equal the sum of the weights
	},
	"envoy.config.route.v3.WeightedCluster.ClusterWeight": {
		"name":   allow,
		"weight": allow, // relative to the sum of all weights
		// applied before the route's, virtual host's and route config's
		"request_headers_to_add":     allow,
		"request_headers_to_remove":  allow,
		"response_headers_to_add":    allow,
		"response_headers_to_remove": allow,
	},
	"envoy.config.route.v3.RetryPolicy": {
		"retry_on":                          allow, // retryOnTokens below
		"num_retries":                       allow, // default 1
		"per_try_timeout":                   allow, // default: the route timeout
		"retriable_status_codes":            allow, // with retry_on retriable-status-codes
		"retry_back_off":                    allow, // default base 25ms, max 10×base
		"retry_host_predicate":              allow, // previous_hosts only
		"host_selection_retry_max_attempts": allow, // default 1
	},
	"envoy.config.route.v3.RetryPolicy.RetryBackOff": {
		"base_interval": allow,
		"max_interval":  allow,
	},
	"envoy.config.route.v3.RetryPolicy.RetryHostPredicate": {
		"name":         allow,
		"typed_config": typed(typePreviousHosts),
	},
	typePreviousHosts: {},
	"envoy.config.route.v3.RedirectAction": {
		"https_redirect":  allow,
		"scheme_redirect": allow,
		"host_redirect":   allow,
		"port_redirect":   allow,
		"path_redirect":   allow,
		"prefix_rewrite":  allow,
		"response_code":   allow, // default 301
		"strip_query":     allow,
		"regex_rewrite":   allow, // the path without its query; \1-style groups
	},
	"envoy.config.route.v3.DirectResponseAction": {
		"status": allow,
		"body":   allow,
	},
	"envoy.config.core.v3.DataSource": { // a direct response body
		"inline_string": allow,
		"inline_bytes":  allow,
	},
	"envoy.config.core.v3.HeaderValueOption": {
		"header":           allow,
		"append_action":    allow, // default APPEND_IF_EXISTS_OR_ADD
		"append":           allow, // deprecated form of append_action
		"keep_empty_value": allow, // default false: a value that formats to "" adds nothing
	},
	"envoy.config.core.v3.HeaderValue": {
		"key":       allow,
		"value":     allow, // may hold %…% formatters the route package knows
		"raw_value": allow, // bytes, instead of value; no NUL, CR or LF
	},
}

func init() {
	for rules, fields := range routeRules {
		supported[rules] = fields
	}
}
