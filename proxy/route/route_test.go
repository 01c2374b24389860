package route

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

func parse(t testing.TB, y string) *routev3.RouteConfiguration {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	rc := &routev3.RouteConfiguration{}
	if err := protojson.Unmarshal(js, rc); err != nil {
		t.Fatalf("decode: %v\n%s", err, js)
	}
	return rc
}

func table(t testing.TB, y string) *Table {
	t.Helper()
	tb, err := Translate(parse(t, y), nil, "route_config")
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	return tb
}

func request(method, host, target string, header ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

func TestVirtualHostsFollowEnvoysDomainPrecedence(t *testing.T) {
	tb := table(t, `
virtual_hosts:
- {name: star, domains: ["*"], routes: [{name: star, match: {prefix: /}, direct_response: {status: 200}}]}
- {name: exact, domains: [api.example.com, "api.example.com:8080"], routes: [{name: exact, match: {prefix: /}, direct_response: {status: 200}}]}
- {name: short-suffix, domains: ["*.com"], routes: [{name: short-suffix, match: {prefix: /}, direct_response: {status: 200}}]}
- {name: long-suffix, domains: ["*.example.com"], routes: [{name: long-suffix, match: {prefix: /}, direct_response: {status: 200}}]}
- {name: prefix, domains: ["api.*", "api.example.*"], routes: [{name: prefix, match: {prefix: /}, direct_response: {status: 200}}]}
`)
	tests := []struct {
		name, host, want string
	}{
		{name: "an exact domain wins over every wildcard", host: "api.example.com", want: "exact"},
		{name: "an exact domain with a port matches that port", host: "api.example.com:8080", want: "exact"},
		{name: "matching ignores case", host: "API.Example.COM", want: "exact"},
		{name: "the longest suffix wildcard wins", host: "www.example.com", want: "long-suffix"},
		{name: "a shorter suffix wildcard catches the rest", host: "www.other.com", want: "short-suffix"},
		{name: "suffix wildcards beat prefix wildcards", host: "api.foo.com", want: "short-suffix"},
		{name: "prefix wildcards come after suffix wildcards", host: "api.example.org", want: "prefix"},
		{name: "a wildcard needs at least one character", host: "example.com", want: "short-suffix"},
		{name: "a port is part of the authority", host: "api.example.com:9090", want: "prefix"},
		{name: "the star catches everything else", host: "localhost:10000", want: "star"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tb.Match(request("GET", tt.host, "/"))
			if r == nil || r.Name() != tt.want {
				t.Fatalf("host %q matched %v, want %s", tt.host, r, tt.want)
			}
		})
	}
}

func TestRouteMatchKinds(t *testing.T) {
	tests := []struct {
		name  string
		match string
		req   *http.Request
		want  bool
	}{
		{name: "prefix matches the start of the path", match: `{prefix: /api}`, req: request("GET", "h", "/api/v1"), want: true},
		{name: "prefix is case sensitive by default", match: `{prefix: /api}`, req: request("GET", "h", "/API"), want: false},
		{name: "case_sensitive false relaxes prefix", match: `{prefix: /api, case_sensitive: false}`, req: request("GET", "h", "/API/x"), want: true},
		{name: "path matches exactly without the query", match: `{path: /exact}`, req: request("GET", "h", "/exact?x=1"), want: true},
		{name: "path does not match a longer path", match: `{path: /exact}`, req: request("GET", "h", "/exact/more"), want: false},
		{name: "safe_regex matches the whole path", match: `{safe_regex: {regex: "/users/[0-9]+"}}`, req: request("GET", "h", "/users/42"), want: true},
		{name: "safe_regex does not match a part of the path", match: `{safe_regex: {regex: "/users/[0-9]+"}}`, req: request("GET", "h", "/users/42/x"), want: false},
		{name: "path_separated_prefix matches the segment", match: `{path_separated_prefix: /api}`, req: request("GET", "h", "/api/x"), want: true},
		{name: "path_separated_prefix matches the bare prefix", match: `{path_separated_prefix: /api}`, req: request("GET", "h", "/api?q"), want: true},
		{name: "path_separated_prefix does not match a longer segment", match: `{path_separated_prefix: /api}`, req: request("GET", "h", "/apix"), want: false},
		{name: "header exact_match", match: `{prefix: /, headers: [{name: x-env, exact_match: canary}]}`, req: request("GET", "h", "/", "X-Env", "canary"), want: true},
		{name: "header exact_match with another value", match: `{prefix: /, headers: [{name: x-env, exact_match: canary}]}`, req: request("GET", "h", "/", "X-Env", "prod"), want: false},
		{name: "header string_match prefix", match: `{prefix: /, headers: [{name: user-agent, string_match: {prefix: curl/}}]}`, req: request("GET", "h", "/", "User-Agent", "curl/8"), want: true},
		{name: "header string_match suffix ignoring case", match: `{prefix: /, headers: [{name: x-a, string_match: {suffix: END, ignore_case: true}}]}`, req: request("GET", "h", "/", "X-A", "the end"), want: true},
		{name: "header contains_match", match: `{prefix: /, headers: [{name: x-a, contains_match: mid}]}`, req: request("GET", "h", "/", "X-A", "amidst"), want: true},
		{name: "header safe_regex_match", match: `{prefix: /, headers: [{name: x-a, safe_regex_match: {regex: "v[0-9]"}}]}`, req: request("GET", "h", "/", "X-A", "v2"), want: true},
		{name: "header present_match", match: `{prefix: /, headers: [{name: x-debug, present_match: true}]}`, req: request("GET", "h", "/", "X-Debug", ""), want: true},
		{name: "header present_match without the header", match: `{prefix: /, headers: [{name: x-debug, present_match: true}]}`, req: request("GET", "h", "/"), want: false},
		{name: "header present_match false matches absence", match: `{prefix: /, headers: [{name: x-debug, present_match: false}]}`, req: request("GET", "h", "/"), want: true},
		{name: "header invert_match", match: `{prefix: /, headers: [{name: x-env, exact_match: prod, invert_match: true}]}`, req: request("GET", "h", "/", "X-Env", "dev"), want: true},
		{name: "header invert_match matches an absent header", match: `{prefix: /, headers: [{name: x-env, exact_match: prod, invert_match: true}]}`, req: request("GET", "h", "/"), want: true},
		{name: "header :method pseudo-header", match: `{prefix: /, headers: [{name: ":method", exact_match: POST}]}`, req: request("POST", "h", "/"), want: true},
		{name: "headers join multiple values with commas", match: `{prefix: /, headers: [{name: x-a, exact_match: "1,2"}]}`, req: request("GET", "h", "/", "X-A", "1", "X-A", "2"), want: true},
		{name: "query parameter string_match", match: `{prefix: /, query_parameters: [{name: debug, string_match: {exact: "on"}}]}`, req: request("GET", "h", "/?a=1&debug=on"), want: true},
		{name: "query parameter with another value", match: `{prefix: /, query_parameters: [{name: debug, string_match: {exact: "on"}}]}`, req: request("GET", "h", "/?debug=off"), want: false},
		{name: "query parameter present_match", match: `{prefix: /, query_parameters: [{name: debug, present_match: true}]}`, req: request("GET", "h", "/?debug"), want: true},
		{name: "query parameters are decoded", match: `{prefix: /, query_parameters: [{name: q, string_match: {exact: "a b"}}]}`, req: request("GET", "h", "/?q=a%20b"), want: true},
		{name: "grpc matches a gRPC content type", match: `{prefix: /, grpc: {}}`, req: request("POST", "h", "/pkg.Svc/M", "Content-Type", "application/grpc+proto"), want: true},
		{name: "grpc does not match JSON", match: `{prefix: /, grpc: {}}`, req: request("POST", "h", "/pkg.Svc/M", "Content-Type", "application/json"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := table(t, `virtual_hosts: [{name: vh, domains: ["*"], routes: [{name: r, match: `+tt.match+`, direct_response: {status: 200}}]}]`)
			if got := tb.Match(tt.req) != nil; got != tt.want {
				t.Errorf("matched %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRoutesAreTriedInOrder(t *testing.T) {
	tb := table(t, `
virtual_hosts:
- name: vh
  domains: ["*"]
  routes:
  - {name: first, match: {prefix: /a}, direct_response: {status: 200}}
  - {name: second, match: {prefix: /}, direct_response: {status: 200}}
`)
	if r := tb.Match(request("GET", "x", "/abc")); r.Name() != "first" {
		t.Errorf("/abc matched %s", r.Name())
	}
	if r := tb.Match(request("GET", "x", "/b")); r.Name() != "second" {
		t.Errorf("/b matched %s", r.Name())
	}
	tb = table(t, `virtual_hosts: [{name: vh, domains: [only.example], routes: [{match: {prefix: /}, direct_response: {status: 200}}]}]`)
	if r := tb.Match(request("GET", "other.example", "/")); r != nil {
		t.Errorf("an unknown host matched %v", r)
	}
}

func TestActions(t *testing.T) {
	tb := table(t, `
virtual_hosts:
- name: vh
  domains: ["*"]
  retry_policy: {retry_on: 5xx, num_retries: 2}
  routes:
  - name: rewrite
    match: {prefix: /old/}
    route: {cluster: c, prefix_rewrite: /new/, host_rewrite_literal: upstream.internal, timeout: 0s}
  - name: regex
    match: {prefix: /r/}
    route: {cluster: c, regex_rewrite: {pattern: {regex: "^/r/([^/]+)/(.*)$"}, substitution: "/\\2/\\1"}, auto_host_rewrite: true}
  - name: own-retry
    match: {prefix: /retry}
    route: {cluster: c, retry_policy: {retry_on: reset}, idle_timeout: 3s}
  - name: direct
    match: {prefix: /direct}
    direct_response: {status: 418, body: {inline_string: teapot}}
  - name: redirect
    match: {prefix: /go/}
    redirect: {https_redirect: true, host_redirect: new.example, prefix_rewrite: /went/, response_code: PERMANENT_REDIRECT}
  - name: strip
    match: {prefix: /strip}
    redirect: {path_redirect: /elsewhere, port_redirect: 8443, strip_query: true}
  - name: header
    match: {prefix: /h}
    route: {cluster_header: x-cluster, cluster_not_found_response_code: NOT_FOUND}
`)
	t.Run("prefix_rewrite swaps the matched prefix and keeps the query", func(t *testing.T) {
		r := tb.Match(request("GET", "x", "/old/a?b=1"))
		got, ok := r.RewritePath("/old/a?b=1")
		if !ok || got != "/new/a?b=1" || r.HostRewrite != "upstream.internal" || r.Timeout != 0 {
			t.Errorf("got %q %v host %q timeout %v", got, ok, r.HostRewrite, r.Timeout)
		}
	})
	t.Run("regex_rewrite substitutes capture groups", func(t *testing.T) {
		r := tb.Match(request("GET", "x", "/r/one/two?q"))
		got, _ := r.RewritePath("/r/one/two?q")
		if got != "/two/one?q" || !r.AutoHostRewrite || r.Timeout != DefaultTimeout {
			t.Errorf("got %q auto %v timeout %v", got, r.AutoHostRewrite, r.Timeout)
		}
	})
	t.Run("a route retry policy replaces the virtual host's", func(t *testing.T) {
		if r := tb.Match(request("GET", "x", "/old/")); r.Retry == nil || r.Retry.NumRetries != 2 {
			t.Errorf("virtual host policy not inherited: %+v", r.Retry)
		}
		if r := tb.Match(request("GET", "x", "/retry")); r.Retry.NumRetries != 1 || r.IdleTimeout.Seconds() != 3 {
			t.Errorf("route policy: %+v idle %v", r.Retry, r.IdleTimeout)
		}
	})
	t.Run("direct_response carries status and body", func(t *testing.T) {
		r := tb.Match(request("GET", "x", "/direct"))
		if r.Action != Respond || r.Direct.Status != 418 || string(r.Direct.Body) != "teapot" {
			t.Errorf("got %+v", r.Direct)
		}
	})
	t.Run("redirect rewrites scheme host and prefix and drops the default port", func(t *testing.T) {
		req := request("GET", "old.example:80", "/go/x?y=1")
		r := tb.Match(req)
		if got := r.RedirectLocation(req); got != "https://new.example/went/x?y=1" || r.Redirect.Status != 308 {
			t.Errorf("Location %q status %d", got, r.Redirect.Status)
		}
	})
	t.Run("redirect replaces the path, sets the port and strips the query", func(t *testing.T) {
		req := request("GET", "a.example", "/strip?x=1")
		r := tb.Match(req)
		if got := r.RedirectLocation(req); got != "http://a.example:8443/elsewhere" || r.Redirect.Status != 301 {
			t.Errorf("Location %q status %d", got, r.Redirect.Status)
		}
	})
	t.Run("cluster_header names the cluster", func(t *testing.T) {
		req := request("GET", "x", "/h", "X-Cluster", "picked")
		r := tb.Match(req)
		if got := r.Target(req).Cluster; got != "picked" || r.ClusterNotFoundStatus != 404 {
			t.Errorf("cluster %q, not found status %d", got, r.ClusterNotFoundStatus)
		}
	})
}

func TestWeightedClustersSplitByWeight(t *testing.T) {
	tb := table(t, `
virtual_hosts:
- name: vh
  domains: ["*"]
  routes:
  - match: {prefix: /}
    route:
      weighted_clusters:
        clusters:
        - {name: stable, weight: 80, request_headers_to_add: [{header: {key: x-version, value: stable}}]}
        - {name: canary, weight: 20}
`)
	req := request("GET", "x", "/")
	r := tb.Match(req)
	counts := map[string]int{}
	for range 2000 {
		tg := r.Target(req)
		counts[tg.Cluster]++
		if tg.Cluster == "stable" {
			h := http.Header{}
			tg.RequestHeaders.Apply(h, nil)
			if h.Get("X-Version") != "stable" {
				t.Fatalf("stable's headers not applied: %v", h)
			}
		}
	}
	if share := float64(counts["stable"]) / 2000; share < 0.75 || share > 0.85 {
		t.Errorf("stable got %.3f of the traffic, want 0.80±0.05 (%v)", share, counts)
	}
}

func TestHeaderMutationsFollowEnvoysOrder(t *testing.T) {
	y := `
request_headers_to_add:
- {header: {key: x-level, value: config}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}
response_headers_to_remove: [x-internal]
virtual_hosts:
- name: vh
  domains: ["*"]
  request_headers_to_add:
  - {header: {key: x-level, value: vhost}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}
  - {header: {key: x-client, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"}}
  routes:
  - match: {prefix: /}
    direct_response: {status: 200}
    request_headers_to_add:
    - {header: {key: x-level, value: route}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}
    - {header: {key: x-multi, value: a}}
    - {header: {key: x-multi, value: b}}
    - {header: {key: x-absent, value: new}, append_action: ADD_IF_ABSENT}
    - {header: {key: x-present, value: new}, append_action: ADD_IF_ABSENT}
    - {header: {key: x-only-if, value: new}, append_action: OVERWRITE_IF_EXISTS}
    - {header: {key: x-empty, value: ""}}
    request_headers_to_remove: [x-drop]
`
	info := &streaminfo.Info{DownstreamRemote: netip.MustParseAddrPort("10.1.2.3:4567")}
	for _, tt := range []struct {
		name  string
		extra string
		level string
	}{
		{name: "the least specific level wins by default", level: "config"},
		{name: "most_specific_header_mutations_wins lets the route win", extra: "most_specific_header_mutations_wins: true\n", level: "route"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := table(t, tt.extra+y).Match(request("GET", "x", "/"))
			h := http.Header{"X-Drop": {"1"}, "X-Present": {"old"}}
			r.RequestHeaders.Apply(h, info)
			want := http.Header{"X-Level": {tt.level}, "X-Multi": {"a", "b"}, "X-Absent": {"new"},
				"X-Present": {"old"}, "X-Client": {"10.1.2.3"}}
			if fmt.Sprint(h) != fmt.Sprint(want) {
				t.Errorf("headers\n got %v\nwant %v", h, want)
			}
			resp := http.Header{"X-Internal": {"secret"}}
			r.ResponseHeaders.Apply(resp, info)
			if len(resp) != 0 {
				t.Errorf("response headers %v, want x-internal removed", resp)
			}
		})
	}
}

func TestTranslationReportsEveryProblemWithItsPath(t *testing.T) {
	y := `
virtual_hosts:
- name: vh
  domains: ["*", "a*b"]
  cors: {}
  routes:
  - match: {prefix: /, runtime_fraction: {default_value: {numerator: 1}}}
    route: {cluster: missing, hash_policy: [{header: {header_name: x}}]}
  - match: {safe_regex: {regex: "("}}
    route: {cluster: known, prefix_rewrite: /x}
  - match: {prefix: /f}
    route: {cluster: known}
    request_headers_to_add:
    - {header: {key: x-a, value: "%START_TIME%"}}
    - {header: {key: x-raw, raw_value: YQ0KYg==}}
    - {header: {key: x-both, value: a, raw_value: b2s=}}
  - match: {prefix: /d}
    direct_response: {status: 200, body: {filename: /etc/passwd}}
- name: other
  domains: ["*"]
`
	_, err := Translate(parse(t, y), func(name string) bool { return name == "known" }, "route_config")
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want config.Errors", err)
	}
	want := []string{
		`route_config.virtual_hosts[0].domains[1]: route: domain "a*b" may hold one wildcard, at its start or end`,
		`route_config.virtual_hosts[0].cors: route: cors is not supported`,
		`route_config.virtual_hosts[0].routes[0].match.runtime_fraction: route: runtime_fraction is not supported`,
		`route_config.virtual_hosts[0].routes[0].route.cluster: route: unknown cluster "missing"`,
		`route_config.virtual_hosts[0].routes[0].route.hash_policy: route: hash_policy is not supported`,
		`route_config.virtual_hosts[0].routes[1].match.safe_regex.regex: route: error parsing regexp`,
		`route_config.virtual_hosts[0].routes[1].route.prefix_rewrite: route: prefix_rewrite cannot be used with a safe_regex match`,
		`route_config.virtual_hosts[0].routes[2].request_headers_to_add[0].header.value: route: header formatter %START_TIME% is not supported`,
		`route_config.virtual_hosts[0].routes[2].request_headers_to_add[1].header.raw_value: route: raw_value may not contain NUL, CR or LF`,
		`route_config.virtual_hosts[0].routes[2].request_headers_to_add[2].header: route: value and raw_value are mutually exclusive`,
		`route_config.virtual_hosts[0].routes[3].direct_response.body: route: only inline_string and inline_bytes bodies are supported`,
		`route_config.virtual_hosts[1].domains[0]: route: domain "*" is used by more than one virtual host`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q", w)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", got)
	}
}

// benchTable has 1,000 routes spread over 10 virtual hosts; the requests
// hit the last route of the last host, the worst case.
func benchTable(b *testing.B) *Table {
	var sb strings.Builder
	sb.WriteString("virtual_hosts:\n")
	for v := range 10 {
		fmt.Fprintf(&sb, "- name: vh%d\n  domains: [svc%d.ns.svc.cluster.local, \"svc%d.ns.svc.cluster.local:80\"]\n  routes:\n", v, v, v)
		for r := range 100 {
			fmt.Fprintf(&sb, "  - match: {prefix: /api/v%d/resource%d, headers: [{name: x-tenant, exact_match: t%d}]}\n    route: {cluster: c%d}\n", r, r, r, r)
		}
	}
	return table(b, sb.String())
}

func BenchmarkMatch1000Routes(b *testing.B) {
	tb := benchTable(b)
	req := request("GET", "svc9.ns.svc.cluster.local:80", "/api/v99/resource99/items?limit=10", "X-Tenant", "t99")
	if r := tb.Match(req); r == nil || r.Cluster != "c99" {
		b.Fatalf("matched %v", r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tb.Match(req)
	}
}
