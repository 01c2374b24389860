package accesslog

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// filter decides whether a stream is logged.
type filter func(in *streaminfo.Info) bool

// compileFilter translates AccessLog.filter. Filters that need what this
// proxy does not have (runtime, tracing, metadata, extensions) are
// rejected with their path.
func compileFilter(pb *accesslogv3.AccessLogFilter, p config.Path, errs *config.Errors) filter {
	switch f := pb.GetFilterSpecifier().(type) {
	case *accesslogv3.AccessLogFilter_StatusCodeFilter:
		p = p.Field("status_code_filter")
		cmp := compileComparison(f.StatusCodeFilter.GetComparison(), p.Field("comparison"), errs)
		return func(in *streaminfo.Info) bool { return cmp(uint64(in.ResponseCode)) }
	case *accesslogv3.AccessLogFilter_DurationFilter:
		p = p.Field("duration_filter")
		cmp := compileComparison(f.DurationFilter.GetComparison(), p.Field("comparison"), errs)
		return func(in *streaminfo.Info) bool { return cmp(millis(in.Duration())) }
	case *accesslogv3.AccessLogFilter_NotHealthCheckFilter:
		// Envoy marks a request as a health check only in its health_check
		// HTTP filter, which this proxy does not have: nothing is one.
		return func(*streaminfo.Info) bool { return true }
	case *accesslogv3.AccessLogFilter_ResponseFlagFilter:
		return compileFlagFilter(f.ResponseFlagFilter, p.Field("response_flag_filter"), errs)
	case *accesslogv3.AccessLogFilter_AndFilter:
		subs := compileFilters(f.AndFilter.GetFilters(), p.Field("and_filter").Field("filters"), errs)
		return func(in *streaminfo.Info) bool {
			for _, s := range subs {
				if !s(in) {
					return false
				}
			}
			return true
		}
	case *accesslogv3.AccessLogFilter_OrFilter:
		subs := compileFilters(f.OrFilter.GetFilters(), p.Field("or_filter").Field("filters"), errs)
		return func(in *streaminfo.Info) bool {
			for _, s := range subs {
				if s(in) {
					return true
				}
			}
			return false
		}
	case *accesslogv3.AccessLogFilter_HeaderFilter:
		return compileHeaderFilter(f.HeaderFilter.GetHeader(), p.Field("header_filter").Field("header"), errs)
	case *accesslogv3.AccessLogFilter_GrpcStatusFilter:
		return compileGRPCFilter(f.GrpcStatusFilter)
	case *accesslogv3.AccessLogFilter_RuntimeFilter:
		return compileRuntimeFilter(f.RuntimeFilter, p.Field("runtime_filter"), errs)
	case *accesslogv3.AccessLogFilter_TraceableFilter:
		errs.Addf(p.Field("traceable_filter"), "access log: traceable_filter is not supported (no tracing)")
	case *accesslogv3.AccessLogFilter_ExtensionFilter:
		errs.Addf(p.Field("extension_filter"), "access log: extension_filter is not supported")
	case *accesslogv3.AccessLogFilter_MetadataFilter:
		errs.Addf(p.Field("metadata_filter"), "access log: metadata_filter is not supported (no dynamic metadata)")
	case *accesslogv3.AccessLogFilter_LogTypeFilter:
		errs.Addf(p.Field("log_type_filter"), "access log: log_type_filter is not supported (only end-of-stream entries are written)")
	default:
		errs.Addf(p, "access log: filter has no filter_specifier")
	}
	return func(*streaminfo.Info) bool { return true }
}

func compileFilters(pbs []*accesslogv3.AccessLogFilter, p config.Path, errs *config.Errors) []filter {
	if len(pbs) < 2 {
		errs.Addf(p, "access log: needs at least two filters")
	}
	out := make([]filter, len(pbs))
	for i, f := range pbs {
		out[i] = compileFilter(f, p.Index(i), errs)
	}
	return out
}

// compileComparison is ComparisonFilter. There is no runtime: the value's
// runtime_key names a layer that does not exist, so default_value holds.
func compileComparison(c *accesslogv3.ComparisonFilter, p config.Path, errs *config.Errors) func(uint64) bool {
	if c == nil {
		errs.Addf(p, "access log: comparison is required")
		return func(uint64) bool { return true }
	}
	v := uint64(c.GetValue().GetDefaultValue())
	switch c.GetOp() {
	case accesslogv3.ComparisonFilter_EQ:
		return func(x uint64) bool { return x == v }
	case accesslogv3.ComparisonFilter_GE:
		return func(x uint64) bool { return x >= v }
	case accesslogv3.ComparisonFilter_LE:
		return func(x uint64) bool { return x <= v }
	case accesslogv3.ComparisonFilter_NE:
		return func(x uint64) bool { return x != v }
	default:
		errs.Addf(p.Field("op"), "access log: unknown comparison %v", c.GetOp())
		return func(uint64) bool { return true }
	}
}

// compileFlagFilter is ResponseFlagFilter: any of the listed flags, or any
// flag at all when the list is empty.
func compileFlagFilter(f *accesslogv3.ResponseFlagFilter, p config.Path, errs *config.Errors) filter {
	var want failure.Flags
	for i, name := range f.GetFlags() {
		fl, ok := flagByShortName(name)
		if !ok {
			errs.Addf(p.Field("flags").Index(i), "access log: unknown response flag %q", name)
			continue
		}
		want |= fl
	}
	if len(f.GetFlags()) == 0 {
		want = ^failure.Flags(0)
	}
	return func(in *streaminfo.Info) bool { return in.Flags&want != 0 }
}

func compileGRPCFilter(f *accesslogv3.GrpcStatusFilter) filter {
	var want uint32
	for _, s := range f.GetStatuses() {
		want |= 1 << uint(s)
	}
	exclude := f.GetExclude()
	return func(in *streaminfo.Info) bool {
		code, ok := grpcStatusOf(in)
		// A stream without grpc-status is not a gRPC outcome: Envoy
		// derives one from the HTTP status only for gRPC requests.
		in_ := ok && code < 32 && want&(1<<uint(code)) != 0
		return in_ != exclude
	}
}

// compileRuntimeFilter samples percent_sampled of the streams (there is no
// runtime to override it). Unless use_independent_randomness is set, the
// decision follows the request id, so every proxy on the path logs the
// same requests, as Envoy does.
func compileRuntimeFilter(f *accesslogv3.RuntimeFilter, p config.Path, errs *config.Errors) filter {
	num, den := uint64(0), uint64(100)
	if ps := f.GetPercentSampled(); ps != nil {
		num = uint64(ps.GetNumerator())
		switch ps.GetDenominator() {
		case typev3.FractionalPercent_HUNDRED:
			den = 100
		case typev3.FractionalPercent_TEN_THOUSAND:
			den = 10000
		case typev3.FractionalPercent_MILLION:
			den = 1000000
		default:
			errs.Addf(p.Field("percent_sampled").Field("denominator"), "access log: unknown denominator")
		}
	}
	independent := f.GetUseIndependentRandomness()
	return func(in *streaminfo.Info) bool {
		var x uint64
		if !independent && in.RequestID != "" {
			h := fnv.New64a()
			h.Write([]byte(in.RequestID))
			x = h.Sum64() % den
		} else {
			x = rand.Uint64N(den)
		}
		return x < num
	}
}

// compileHeaderFilter matches one request header; a header with several
// values is matched on its first.
func compileHeaderFilter(m *routev3.HeaderMatcher, p config.Path, errs *config.Errors) filter {
	if m == nil {
		errs.Addf(p, "access log: header is required")
		return func(*streaminfo.Info) bool { return true }
	}
	get, err := headerGetter(requestHeaders, m.GetName())
	if err != nil {
		errs.Add(p.Field("name"), fmt.Errorf("access log: %w", err))
		return func(*streaminfo.Info) bool { return true }
	}
	var match func(string) bool
	switch s := m.GetHeaderMatchSpecifier().(type) {
	case nil:
		match = func(string) bool { return true } // presence
	case *routev3.HeaderMatcher_PresentMatch:
		want := s.PresentMatch
		match = func(string) bool { return want }
	case *routev3.HeaderMatcher_ExactMatch:
		match = func(v string) bool { return v == s.ExactMatch }
	case *routev3.HeaderMatcher_PrefixMatch:
		match = func(v string) bool { return strings.HasPrefix(v, s.PrefixMatch) }
	case *routev3.HeaderMatcher_SuffixMatch:
		match = func(v string) bool { return strings.HasSuffix(v, s.SuffixMatch) }
	case *routev3.HeaderMatcher_ContainsMatch:
		match = func(v string) bool { return strings.Contains(v, s.ContainsMatch) }
	case *routev3.HeaderMatcher_SafeRegexMatch:
		match = compileRegex(s.SafeRegexMatch.GetRegex(), false, p.Field("safe_regex_match").Field("regex"), errs)
	case *routev3.HeaderMatcher_StringMatch:
		match = compileStringMatcher(s.StringMatch, p.Field("string_match"), errs)
	default:
		errs.Addf(p, "access log: header_filter supports exact, prefix, suffix, contains, safe_regex, present and string_match")
		match = func(string) bool { return true }
	}
	invert, missingAsEmpty := m.GetInvertMatch(), m.GetTreatMissingHeaderAsEmpty()
	_, presentOnly := m.GetHeaderMatchSpecifier().(*routev3.HeaderMatcher_PresentMatch)
	return func(in *streaminfo.Info) bool {
		sp := scratchPool.Get().(*[]byte)
		v, ok := get((*sp)[:0], in)
		*sp = v
		var r bool
		switch {
		case presentOnly:
			r = match("") == ok
		case !ok && !missingAsEmpty:
			r = false
		default:
			r = match(string(v))
		}
		scratchPool.Put(sp)
		return r != invert
	}
}

func compileStringMatcher(m *matcherv3.StringMatcher, p config.Path, errs *config.Errors) func(string) bool {
	fold := m.GetIgnoreCase()
	norm := func(s string) string {
		if fold {
			return strings.ToLower(s)
		}
		return s
	}
	switch s := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		want := norm(s.Exact)
		return func(v string) bool { return norm(v) == want }
	case *matcherv3.StringMatcher_Prefix:
		want := norm(s.Prefix)
		return func(v string) bool { return strings.HasPrefix(norm(v), want) }
	case *matcherv3.StringMatcher_Suffix:
		want := norm(s.Suffix)
		return func(v string) bool { return strings.HasSuffix(norm(v), want) }
	case *matcherv3.StringMatcher_Contains:
		want := norm(s.Contains)
		return func(v string) bool { return strings.Contains(norm(v), want) }
	case *matcherv3.StringMatcher_SafeRegex:
		return compileRegex(s.SafeRegex.GetRegex(), fold, p.Field("safe_regex").Field("regex"), errs)
	default:
		errs.Addf(p, "access log: string matcher must set exact, prefix, suffix, contains or safe_regex")
		return func(string) bool { return false }
	}
}

// compileRegex compiles an RE2 pattern that must match the whole value.
func compileRegex(expr string, fold bool, p config.Path, errs *config.Errors) func(string) bool {
	if fold {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		errs.Add(p, fmt.Errorf("access log: %w", err))
		return func(string) bool { return false }
	}
	return re.MatchString
}
