package route

import (
	"net/http"
	"net/url"
	"testing"
)

// FuzzMatch feeds untrusted authorities, request targets and header values
// to a table that uses every matcher kind: Match must never panic.
func FuzzMatch(f *testing.F) {
	tb := table(f, `
virtual_hosts:
- name: wild
  domains: ["*.example.com", "api.*", "exact.test", "exact.test:8080"]
  routes:
  - match: {path_separated_prefix: /api, case_sensitive: false}
    route: {cluster: c, prefix_rewrite: /v2}
  - match: {safe_regex: {regex: "/users/[0-9]+"}, headers: [{name: x-a, string_match: {contains: Mid, ignore_case: true}}]}
    route: {cluster: c, regex_rewrite: {pattern: {regex: "[0-9]+"}, substitution: "<\\0>"}}
  - match: {prefix: /, query_parameters: [{name: q, string_match: {prefix: "a b"}}], headers: [{name: ":authority", suffix_match: ".com", invert_match: true}]}
    redirect: {https_redirect: true, strip_query: true}
- name: star
  domains: ["*"]
  routes:
  - match: {prefix: /, grpc: {}}
    direct_response: {status: 200}
`)
	f.Add("exact.test", "/api/x?q=a%20b", "middle")
	f.Add("www.example.com", "/users/12", "MID")
	f.Add("API.other:1", "/?q=a+b&q", "")
	f.Add("", "*", "\x00")
	f.Fuzz(func(t *testing.T, host, target, header string) {
		r := &http.Request{Method: "GET", Host: host, RequestURI: target, Header: http.Header{"X-A": {header}, "Content-Type": {header}}}
		if u, err := url.ParseRequestURI(target); err == nil {
			r.URL = u
		} else {
			r.URL = &url.URL{Path: "/"}
		}
		rt := tb.Match(r)
		if rt == nil {
			return
		}
		rt.RewritePath(RequestPath(r))
		if rt.Redirect != nil {
			rt.RedirectLocation(r)
		}
	})
}
