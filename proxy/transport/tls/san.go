package tls

import (
	"crypto/x509"
	"regexp"
	"strings"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// sanType is which subject alternative names a matcher looks at.
type sanType uint8

const (
	sanAny sanType = iota // match_subject_alt_names: every type
	sanDNS
	sanURI
	sanEmail
	sanIP
)

// sanMatcher is one translated SubjectAltNameMatcher.
type sanMatcher struct {
	kind sanType
	str  stringMatcher
}

// stringMatcher is a translated envoy.type.matcher.v3.StringMatcher.
type stringMatcher struct {
	exact, prefix, suffix, contains *string
	re                              *regexp.Regexp
	ignoreCase                      bool
}

func (m *stringMatcher) match(v string) bool {
	fold := func(s string) string {
		if m.ignoreCase {
			return strings.ToLower(s)
		}
		return s
	}
	switch {
	case m.exact != nil:
		return fold(v) == *m.exact
	case m.prefix != nil:
		return strings.HasPrefix(fold(v), *m.prefix)
	case m.suffix != nil:
		return strings.HasSuffix(fold(v), *m.suffix)
	case m.contains != nil:
		return strings.Contains(fold(v), *m.contains)
	case m.re != nil:
		return m.re.MatchString(v)
	}
	return false
}

// String shows the matcher in log lines ("exact spiffe://td/ns/a/sa/b").
func (m *stringMatcher) String() string {
	switch {
	case m.exact != nil:
		return "exact " + *m.exact
	case m.prefix != nil:
		return "prefix " + *m.prefix
	case m.suffix != nil:
		return "suffix " + *m.suffix
	case m.contains != nil:
		return "contains " + *m.contains
	case m.re != nil:
		return "regex " + m.re.String()
	}
	return "nothing"
}

func translateStringMatcher(pb *matcherv3.StringMatcher, p config.Path, errs *config.Errors) stringMatcher {
	rejectUnhandled(errs, pb, p, "exact", "prefix", "suffix", "contains", "safe_regex", "ignore_case")
	m := stringMatcher{ignoreCase: pb.GetIgnoreCase()}
	fold := func(s string) *string {
		if m.ignoreCase {
			s = strings.ToLower(s)
		}
		return &s
	}
	switch pat := pb.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		m.exact = fold(pat.Exact)
	case *matcherv3.StringMatcher_Prefix:
		m.prefix = fold(pat.Prefix)
	case *matcherv3.StringMatcher_Suffix:
		m.suffix = fold(pat.Suffix)
	case *matcherv3.StringMatcher_Contains:
		m.contains = fold(pat.Contains)
	case *matcherv3.StringMatcher_SafeRegex:
		rp := p.Field("safe_regex")
		rejectUnhandled(errs, pat.SafeRegex, rp, "regex", "google_re2")
		if m.ignoreCase {
			errs.Addf(p.Field("ignore_case"), "tls: ignore_case has no effect on safe_regex; use (?i) in the regex")
		}
		re, err := regexp.Compile("^(?:" + pat.SafeRegex.GetRegex() + ")$")
		if err != nil {
			errs.Addf(rp.Field("regex"), "tls: %w", err)
		}
		m.re = re
	default:
		errs.Addf(p, "tls: a string matcher needs exact, prefix, suffix, contains or safe_regex")
	}
	return m
}

func translateSANMatchers(vc *tlsv3.CertificateValidationContext, p config.Path, errs *config.Errors) []sanMatcher {
	var out []sanMatcher
	for i, t := range vc.GetMatchTypedSubjectAltNames() {
		tp := p.Field("match_typed_subject_alt_names").Index(i)
		rejectUnhandled(errs, t, tp, "san_type", "matcher")
		m := sanMatcher{}
		switch t.GetSanType() {
		case tlsv3.SubjectAltNameMatcher_DNS:
			m.kind = sanDNS
		case tlsv3.SubjectAltNameMatcher_URI:
			m.kind = sanURI
		case tlsv3.SubjectAltNameMatcher_EMAIL:
			m.kind = sanEmail
		case tlsv3.SubjectAltNameMatcher_IP_ADDRESS:
			m.kind = sanIP
		default:
			errs.Addf(tp.Field("san_type"), "tls: san_type %s is not supported (use DNS, URI, EMAIL or IP_ADDRESS)", t.GetSanType())
		}
		if t.GetMatcher() == nil {
			errs.Addf(tp.Field("matcher"), "tls: a matcher is required")
			continue
		}
		m.str = translateStringMatcher(t.GetMatcher(), tp.Field("matcher"), errs)
		out = append(out, m)
	}
	for i, sm := range vc.GetMatchSubjectAltNames() {
		out = append(out, sanMatcher{kind: sanAny, str: translateStringMatcher(sm, p.Field("match_subject_alt_names").Index(i), errs)})
	}
	return out
}

// matchSANs reports whether any matcher accepts a SAN of cert, as Envoy
// does: the matchers are alternatives. No matcher accepts everything.
func matchSANs(ms []sanMatcher, cert *x509.Certificate) bool {
	if len(ms) == 0 {
		return true
	}
	for i := range ms {
		if ms[i].matches(cert) {
			return true
		}
	}
	return false
}

func (m *sanMatcher) matches(c *x509.Certificate) bool {
	if m.kind == sanAny || m.kind == sanDNS {
		for _, d := range c.DNSNames {
			if m.matchDNS(d) {
				return true
			}
		}
	}
	if m.kind == sanAny || m.kind == sanURI {
		for _, u := range c.URIs {
			if m.str.match(u.String()) {
				return true
			}
		}
	}
	if m.kind == sanAny || m.kind == sanEmail {
		for _, e := range c.EmailAddresses {
			if m.str.match(e) {
				return true
			}
		}
	}
	if m.kind == sanAny || m.kind == sanIP {
		for _, ip := range c.IPAddresses {
			if m.str.match(ip.String()) {
				return true
			}
		}
	}
	return false
}

// matchDNS lets a wildcard DNS SAN ("*.example.com") satisfy an exact
// matcher for a name it covers ("api.example.com"), as Envoy does.
func (m *sanMatcher) matchDNS(san string) bool {
	if m.str.match(san) {
		return true
	}
	if m.str.exact == nil || !strings.HasPrefix(san, "*.") {
		return false
	}
	want := *m.str.exact
	i := strings.IndexByte(want, '.')
	return i > 0 && strings.EqualFold(want[i:], san[1:])
}

// describeSANs lists the matchers for log lines.
func describeSANs(ms []sanMatcher) string {
	parts := make([]string, len(ms))
	for i := range ms {
		kind := [...]string{"any", "DNS", "URI", "EMAIL", "IP"}[ms[i].kind]
		parts[i] = kind + " " + ms[i].str.String()
	}
	return strings.Join(parts, " or ")
}

// certSANs lists a certificate's SANs for log lines and errors.
func certSANs(c *x509.Certificate) []string {
	var out []string
	for _, u := range c.URIs {
		out = append(out, "URI:"+u.String())
	}
	for _, d := range c.DNSNames {
		out = append(out, "DNS:"+d)
	}
	for _, e := range c.EmailAddresses {
		out = append(out, "EMAIL:"+e)
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "IP:"+ip.String())
	}
	return out
}
