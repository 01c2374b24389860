package route

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
)

type pathKind uint8

const (
	pathPrefix pathKind = iota
	pathExact
	pathRegex
	pathSeparatedPrefix
)

// matcher is a translated RouteMatch. Most routes match on a path
// alone: the other conditions sit behind one pointer, nil without them,
// so that a route of a mesh's thousands stays small.
type matcher struct {
	kind          pathKind
	caseSensitive bool
	path          string
	more          *conditions
}

// conditions are a RouteMatch's less common parts.
type conditions struct {
	re      *regexp.Regexp // safe_regex
	headers []headerMatcher
	query   []queryMatcher
	grpc    bool
}

// match reports whether r matches; path is its :path, noQuery the same
// without the query string.
func (m *matcher) match(r *http.Request, path, noQuery string) bool {
	switch m.kind {
	case pathPrefix:
		if !m.hasPrefix(path, m.path) {
			return false
		}
	case pathExact:
		if !m.equal(noQuery, m.path) {
			return false
		}
	case pathRegex:
		if !m.more.re.MatchString(noQuery) {
			return false
		}
	case pathSeparatedPrefix:
		if !m.hasPrefix(noQuery, m.path) || len(noQuery) > len(m.path) && noQuery[len(m.path)] != '/' {
			return false
		}
	}
	if m.more == nil {
		return true
	}
	return m.more.match(r, path, noQuery)
}

func (c *conditions) match(r *http.Request, path, noQuery string) bool {
	if c.grpc && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		return false
	}
	for i := range c.headers {
		if !c.headers[i].match(r, path) {
			return false
		}
	}
	if len(c.query) > 0 {
		q := ""
		if len(path) > len(noQuery) {
			q = path[len(noQuery)+1:]
		}
		for i := range c.query {
			if !c.query[i].match(q) {
				return false
			}
		}
	}
	return true
}

func (m *matcher) hasPrefix(s, prefix string) bool {
	if m.caseSensitive {
		return strings.HasPrefix(s, prefix)
	}
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func (m *matcher) equal(a, b string) bool {
	if m.caseSensitive {
		return a == b
	}
	return strings.EqualFold(a, b)
}

func translateMatch(a *arena, pb *routev3.RouteMatch, p config.Path, errs *config.Errors) matcher {
	rejectUnsupported(errs, pb, p, "prefix", "path", "safe_regex", "path_separated_prefix",
		"case_sensitive", "headers", "query_parameters", "grpc")
	m, more := matcher{caseSensitive: true}, &conditions{}
	if cs := pb.GetCaseSensitive(); cs != nil {
		m.caseSensitive = cs.GetValue()
	}
	switch ps := pb.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		m.kind, m.path = pathPrefix, a.str(ps.Prefix)
	case *routev3.RouteMatch_Path:
		m.kind, m.path = pathExact, a.str(ps.Path)
	case *routev3.RouteMatch_SafeRegex:
		m.kind = pathRegex
		more.re = compileFull(ps.SafeRegex, p.Field("safe_regex"), errs)
	case *routev3.RouteMatch_PathSeparatedPrefix:
		m.kind, m.path = pathSeparatedPrefix, a.str(ps.PathSeparatedPrefix)
		if strings.ContainsAny(m.path, "?#") || strings.HasSuffix(m.path, "/") {
			errs.Addf(p.Field("path_separated_prefix"), "route: path_separated_prefix may not contain ? or # nor end in /")
		}
	default:
		errs.Addf(p, "route: a path specifier (prefix, path, safe_regex or path_separated_prefix) is required")
	}
	if pb.GetGrpc() != nil {
		rejectUnsupported(errs, pb.GetGrpc(), p.Field("grpc"))
		more.grpc = true
	}
	for i, h := range pb.GetHeaders() {
		more.headers = append(more.headers, translateHeaderMatcher(h, p.Field("headers").Index(i), errs))
	}
	for i, q := range pb.GetQueryParameters() {
		more.query = append(more.query, translateQueryMatcher(q, p.Field("query_parameters").Index(i), errs))
	}
	if more.re != nil || more.grpc || len(more.headers) > 0 || len(more.query) > 0 {
		m.more = more
	}
	return m
}

// compileFull compiles an RE2 pattern that must match the whole input,
// as Envoy's safe_regex matchers do.
func compileFull(rm *matcherv3.RegexMatcher, p config.Path, errs *config.Errors) *regexp.Regexp {
	rejectUnsupported(errs, rm, p, "google_re2", "regex")
	re, err := regexp.Compile(`^(?:` + rm.GetRegex() + `)$`)
	if err != nil {
		errs.Addf(p.Field("regex"), "route: %w", err)
		return regexp.MustCompile(`^\b$`) // never matches; translation fails anyway
	}
	return re
}

// stringMatcher is a translated StringMatcher.
type stringMatcher struct {
	kind       uint8 // smExact…
	s          string
	re         *regexp.Regexp
	ignoreCase bool
}

const (
	smExact uint8 = iota
	smPrefix
	smSuffix
	smContains
	smRegex
)

func (m *stringMatcher) match(v string) bool {
	switch m.kind {
	case smExact:
		if m.ignoreCase {
			return strings.EqualFold(v, m.s)
		}
		return v == m.s
	case smPrefix:
		if m.ignoreCase {
			return len(v) >= len(m.s) && strings.EqualFold(v[:len(m.s)], m.s)
		}
		return strings.HasPrefix(v, m.s)
	case smSuffix:
		if m.ignoreCase {
			return len(v) >= len(m.s) && strings.EqualFold(v[len(v)-len(m.s):], m.s)
		}
		return strings.HasSuffix(v, m.s)
	case smContains:
		if m.ignoreCase {
			return strings.Contains(strings.ToLower(v), m.s) // m.s is lowercased
		}
		return strings.Contains(v, m.s)
	case smRegex:
		return m.re.MatchString(v)
	}
	return false
}

func translateStringMatcher(pb *matcherv3.StringMatcher, p config.Path, errs *config.Errors) stringMatcher {
	rejectUnsupported(errs, pb, p, "exact", "prefix", "suffix", "contains", "safe_regex", "ignore_case")
	sm := stringMatcher{ignoreCase: pb.GetIgnoreCase()}
	switch mp := pb.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		sm.kind, sm.s = smExact, mp.Exact
	case *matcherv3.StringMatcher_Prefix:
		sm.kind, sm.s = smPrefix, mp.Prefix
	case *matcherv3.StringMatcher_Suffix:
		sm.kind, sm.s = smSuffix, mp.Suffix
	case *matcherv3.StringMatcher_Contains:
		sm.kind, sm.s = smContains, mp.Contains
		if sm.ignoreCase {
			sm.s = strings.ToLower(sm.s)
		}
	case *matcherv3.StringMatcher_SafeRegex:
		sm.kind = smRegex
		sm.re = compileFull(mp.SafeRegex, p.Field("safe_regex"), errs)
		if sm.ignoreCase {
			errs.Addf(p.Field("ignore_case"), "route: ignore_case has no effect on safe_regex")
		}
	default:
		errs.Addf(p, "route: a match pattern is required")
	}
	return sm
}

// headerMatcher is a translated HeaderMatcher.
type headerMatcher struct {
	name           string // canonical, or a pseudo-header
	present        bool   // present_match (or no specifier at all)
	presentWant    bool
	sm             stringMatcher
	invert         bool
	missingAsEmpty bool
}

func translateHeaderMatcher(pb *routev3.HeaderMatcher, p config.Path, errs *config.Errors) headerMatcher {
	rejectUnsupported(errs, pb, p, "name", "exact_match", "safe_regex_match", "present_match",
		"prefix_match", "suffix_match", "contains_match", "string_match", "invert_match",
		"treat_missing_header_as_empty")
	hm := headerMatcher{name: pb.GetName(), invert: pb.GetInvertMatch(), missingAsEmpty: pb.GetTreatMissingHeaderAsEmpty()}
	if !strings.HasPrefix(hm.name, ":") {
		hm.name = http.CanonicalHeaderKey(hm.name)
	} else if hm.name != ":method" && hm.name != ":authority" && hm.name != ":path" && hm.name != ":scheme" {
		errs.Addf(p.Field("name"), "route: pseudo-header %q is not supported", hm.name)
	}
	switch s := pb.GetHeaderMatchSpecifier().(type) {
	case nil:
		hm.present, hm.presentWant = true, true
	case *routev3.HeaderMatcher_PresentMatch:
		hm.present, hm.presentWant = true, s.PresentMatch
	case *routev3.HeaderMatcher_ExactMatch:
		hm.sm = stringMatcher{kind: smExact, s: s.ExactMatch}
	case *routev3.HeaderMatcher_PrefixMatch:
		hm.sm = stringMatcher{kind: smPrefix, s: s.PrefixMatch}
	case *routev3.HeaderMatcher_SuffixMatch:
		hm.sm = stringMatcher{kind: smSuffix, s: s.SuffixMatch}
	case *routev3.HeaderMatcher_ContainsMatch:
		hm.sm = stringMatcher{kind: smContains, s: s.ContainsMatch}
	case *routev3.HeaderMatcher_SafeRegexMatch:
		hm.sm = stringMatcher{kind: smRegex, re: compileFull(s.SafeRegexMatch, p.Field("safe_regex_match"), errs)}
	case *routev3.HeaderMatcher_StringMatch:
		hm.sm = translateStringMatcher(s.StringMatch, p.Field("string_match"), errs)
	default:
		errs.Addf(p, "route: header match %T is not supported", s)
	}
	return hm
}

func (hm *headerMatcher) match(r *http.Request, path string) bool {
	v, ok := headerValue(r, hm.name, path)
	if !ok && !hm.missingAsEmpty {
		// Envoy: an absent header matches only "present_match: false", or
		// an inverted value match.
		if hm.invert {
			return !hm.present
		}
		return hm.present && !hm.presentWant
	}
	var got bool
	if hm.present {
		got = hm.presentWant == ok
	} else {
		got = hm.sm.match(v)
	}
	return got != hm.invert
}

// headerValue is the request's value of name, multiple values joined by
// commas as Envoy does.
func headerValue(r *http.Request, name, path string) (string, bool) {
	switch name {
	case ":method":
		return r.Method, true
	case ":authority":
		return r.Host, true
	case ":path":
		return path, true
	case ":scheme":
		if r.TLS != nil {
			return "https", true
		}
		return "http", true
	}
	vs, ok := r.Header[name]
	switch len(vs) {
	case 0:
		return "", ok
	case 1:
		return vs[0], true
	}
	return strings.Join(vs, ","), true
}

// queryMatcher is a translated QueryParameterMatcher.
type queryMatcher struct {
	name    string
	present bool
	sm      stringMatcher
}

func translateQueryMatcher(pb *routev3.QueryParameterMatcher, p config.Path, errs *config.Errors) queryMatcher {
	rejectUnsupported(errs, pb, p, "name", "string_match", "present_match")
	qm := queryMatcher{name: pb.GetName()}
	switch s := pb.GetQueryParameterMatchSpecifier().(type) {
	case nil:
		qm.present = true
	case *routev3.QueryParameterMatcher_PresentMatch:
		if !s.PresentMatch {
			errs.Addf(p.Field("present_match"), "route: present_match must be true")
		}
		qm.present = true
	case *routev3.QueryParameterMatcher_StringMatch:
		qm.sm = translateStringMatcher(s.StringMatch, p.Field("string_match"), errs)
	}
	return qm
}

// match looks for the first occurrence of the parameter in the raw query.
func (qm *queryMatcher) match(query string) bool {
	for query != "" {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(k, "%+") {
			if dk, err := url.QueryUnescape(k); err == nil {
				k = dk
			}
		}
		if k != qm.name {
			continue
		}
		if qm.present {
			return true
		}
		if strings.ContainsAny(v, "%+") {
			if dv, err := url.QueryUnescape(v); err == nil {
				v = dv
			}
		}
		return qm.sm.match(v)
	}
	return false
}
