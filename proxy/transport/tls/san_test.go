package tls

import (
	"net"
	"testing"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/transport/tls/tlstest"
)

func TestSANMatchersFollowEnvoysRules(t *testing.T) {
	ca, err := tlstest.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(tlstest.Options{
		URIs:     []string{"spiffe://cluster.local/ns/prod/sa/api"},
		DNSNames: []string{"*.example.com", "api.internal"},
		IPs:      []net.IP{net.ParseIP("10.0.0.7")},
	})
	if err != nil {
		t.Fatal(err)
	}
	exact := func(s string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
	}
	typed := func(kind tlsv3.SubjectAltNameMatcher_SanType, m *matcherv3.StringMatcher) *tlsv3.CertificateValidationContext {
		return &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{SanType: kind, Matcher: m}}}
	}
	tests := []struct {
		name string
		vc   *tlsv3.CertificateValidationContext
		want bool
	}{
		{name: "an exact SPIFFE ID matches the URI SAN", vc: typed(tlsv3.SubjectAltNameMatcher_URI, exact("spiffe://cluster.local/ns/prod/sa/api")), want: true},
		{name: "another service account does not", vc: typed(tlsv3.SubjectAltNameMatcher_URI, exact("spiffe://cluster.local/ns/prod/sa/web"))},
		{name: "a URI matcher ignores DNS SANs", vc: typed(tlsv3.SubjectAltNameMatcher_URI, exact("api.internal"))},
		{name: "a namespace prefix matches", vc: typed(tlsv3.SubjectAltNameMatcher_URI,
			&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://cluster.local/ns/prod/"}}), want: true},
		{name: "a regex matches the whole SAN", vc: typed(tlsv3.SubjectAltNameMatcher_URI,
			&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "spiffe://cluster.local/ns/[a-z]+/sa/api"}}}), want: true},
		{name: "a regex matching only part of the SAN does not", vc: typed(tlsv3.SubjectAltNameMatcher_URI,
			&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "sa/api"}}})},
		{name: "a wildcard DNS SAN covers an exact name one level down", vc: typed(tlsv3.SubjectAltNameMatcher_DNS, exact("shop.example.com")), want: true},
		{name: "a wildcard DNS SAN does not cover two levels", vc: typed(tlsv3.SubjectAltNameMatcher_DNS, exact("a.shop.example.com"))},
		{name: "an IP SAN matches its text form", vc: typed(tlsv3.SubjectAltNameMatcher_IP_ADDRESS, exact("10.0.0.7")), want: true},
		{name: "ignore_case folds both sides", vc: typed(tlsv3.SubjectAltNameMatcher_DNS,
			&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "API.INTERNAL"}, IgnoreCase: true}), want: true},
		{name: "the untyped matcher looks at every SAN type", vc: &tlsv3.CertificateValidationContext{
			MatchSubjectAltNames: []*matcherv3.StringMatcher{exact("10.0.0.7")}}, want: true},
		{name: "no matcher accepts any certificate", vc: &tlsv3.CertificateValidationContext{}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs config.Errors
			ms := translateSANMatchers(tt.vc, "validation_context", &errs)
			if err := errs.Err(); err != nil {
				t.Fatal(err)
			}
			if got := matchSANs(ms, leaf.Cert); got != tt.want {
				t.Errorf("match = %v, want %v (matchers: %s)", got, tt.want, describeSANs(ms))
			}
		})
	}
}
