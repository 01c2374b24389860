package route

import (
	"net/http"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/retry"
)

// defaultMaxDirectBody is Envoy's max_direct_response_body_size_bytes.
const defaultMaxDirectBody = 4096

// vhostSettings is what a virtual host passes down to its routes.
type vhostSettings struct {
	retry                         *retry.Policy
	bufferLimit                   int
	mostSpecificWins              bool
	maxDirectBody                 int
	includeAttemptCount           bool
	includeAttemptCountInResponse bool
}

func translateTable(rc *routev3.RouteConfiguration, hasCluster func(string) bool, p config.Path, errs *config.Errors) *Table {
	rejectUnsupported(errs, rc, p, "name", "virtual_hosts", "request_headers_to_add", "request_headers_to_remove",
		"response_headers_to_add", "response_headers_to_remove", "most_specific_header_mutations_wins",
		"validate_clusters", "max_direct_response_body_size_bytes", "ignore_port_in_host_matching")
	t := &Table{name: rc.GetName(), ignorePort: rc.GetIgnorePortInHostMatching()}
	if v := rc.GetValidateClusters(); v != nil && !v.GetValue() {
		hasCluster = nil
	}
	cfgReq := translateHeaderOps(rc.GetRequestHeadersToAdd(), rc.GetRequestHeadersToRemove(),
		p.Field("request_headers_to_add"), p.Field("request_headers_to_remove"), errs)
	cfgResp := translateHeaderOps(rc.GetResponseHeadersToAdd(), rc.GetResponseHeadersToRemove(),
		p.Field("response_headers_to_add"), p.Field("response_headers_to_remove"), errs)
	maxBody := defaultMaxDirectBody
	if m := rc.GetMaxDirectResponseBodySizeBytes(); m != nil {
		maxBody = int(m.GetValue())
	}
	a := newArena(rc)
	t.domains = newDomainIndex(rc)
	for i, vpb := range rc.GetVirtualHosts() {
		vp := p.Field("virtual_hosts").Index(i)
		vh := translateVirtualHost(a, vpb, cfgReq, cfgResp, rc.GetMostSpecificHeaderMutationsWins(), maxBody, hasCluster, vp, errs)
		for j, d := range vpb.GetDomains() {
			if err := t.domains.add(a.str(strings.ToLower(d)), vh); err != nil {
				errs.Add(vp.Field("domains").Index(j), err)
			}
		}
		if len(vpb.GetDomains()) == 0 {
			errs.Addf(vp.Field("domains"), "route: a virtual host needs at least one domain")
		}
	}
	return t
}

func translateVirtualHost(a *arena, pb *routev3.VirtualHost, cfgReq, cfgResp *headerOps, mostSpecificWins bool, maxBody int,
	hasCluster func(string) bool, p config.Path, errs *config.Errors) *VirtualHost {
	rejectUnsupported(errs, pb, p, "name", "domains", "routes", "request_headers_to_add", "request_headers_to_remove",
		"response_headers_to_add", "response_headers_to_remove", "retry_policy", "include_request_attempt_count",
		"include_attempt_count_in_response", "per_request_buffer_limit_bytes", "metadata")
	vh := a.vhost()
	vh.Name = a.str(pb.GetName())
	vs := &vhostSettings{
		retry:                         retry.Translate(pb.GetRetryPolicy(), p.Field("retry_policy"), errs),
		bufferLimit:                   retry.DefaultBufferLimit,
		mostSpecificWins:              mostSpecificWins,
		maxDirectBody:                 maxBody,
		includeAttemptCount:           pb.GetIncludeRequestAttemptCount(),
		includeAttemptCountInResponse: pb.GetIncludeAttemptCountInResponse(),
	}
	if b := pb.GetPerRequestBufferLimitBytes(); b != nil {
		vs.bufferLimit = int(b.GetValue())
	}
	vhReq := translateHeaderOps(pb.GetRequestHeadersToAdd(), pb.GetRequestHeadersToRemove(),
		p.Field("request_headers_to_add"), p.Field("request_headers_to_remove"), errs)
	vhResp := translateHeaderOps(pb.GetResponseHeadersToAdd(), pb.GetResponseHeadersToRemove(),
		p.Field("response_headers_to_add"), p.Field("response_headers_to_remove"), errs)
	vh.routes = a.routeList(len(pb.GetRoutes()))
	for i, rpb := range pb.GetRoutes() {
		rp := p.Field("routes").Index(i)
		r := translateRoute(a, rpb, vs, []*headerOps{vhReq, cfgReq}, []*headerOps{vhResp, cfgResp}, hasCluster, rp, errs)
		r.vhost = vh
		vh.routes = append(vh.routes, r)
	}
	return vh
}

func translateRoute(a *arena, pb *routev3.Route, vs *vhostSettings, reqUp, respUp []*headerOps, hasCluster func(string) bool,
	p config.Path, errs *config.Errors) *Route {
	rejectUnsupported(errs, pb, p, "name", "match", "route", "redirect", "direct_response",
		"request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
		"response_headers_to_remove", "per_request_buffer_limit_bytes", "metadata")
	r := a.route()
	*r = Route{name: a.str(pb.GetName()), BufferLimit: vs.bufferLimit,
		IncludeAttemptCount: vs.includeAttemptCount, IncludeAttemptCountInResponse: vs.includeAttemptCountInResponse}
	if b := pb.GetPerRequestBufferLimitBytes(); b != nil {
		r.BufferLimit = int(b.GetValue())
	}
	if pb.GetMatch() == nil {
		errs.Addf(p.Field("match"), "route: match is required")
	} else {
		r.match = translateMatch(a, pb.GetMatch(), p.Field("match"), errs)
	}
	rq := translateHeaderOps(pb.GetRequestHeadersToAdd(), pb.GetRequestHeadersToRemove(),
		p.Field("request_headers_to_add"), p.Field("request_headers_to_remove"), errs)
	rs := translateHeaderOps(pb.GetResponseHeadersToAdd(), pb.GetResponseHeadersToRemove(),
		p.Field("response_headers_to_add"), p.Field("response_headers_to_remove"), errs)
	reqLevels := append([]*headerOps{rq}, reqUp...)
	respLevels := append([]*headerOps{rs}, respUp...)
	r.RequestHeaders = chain(vs.mostSpecificWins, reqLevels...)
	r.ResponseHeaders = chain(vs.mostSpecificWins, respLevels...)
	switch act := pb.GetAction().(type) {
	case *routev3.Route_Route:
		r.Action = Forward
		translateRouteAction(a, act.Route, r, vs, reqLevels, respLevels, p.Field("route"), errs, hasCluster)
	case *routev3.Route_DirectResponse:
		r.Action = Respond
		r.Direct = translateDirect(act.DirectResponse, vs.maxDirectBody, p.Field("direct_response"), errs)
	case *routev3.Route_Redirect:
		r.Action = Redirect
		r.Redirect = translateRedirect(act.Redirect, &r.match, p.Field("redirect"), errs)
	default:
		errs.Addf(p, "route: route, redirect or direct_response is required")
	}
	return r
}

func translateDirect(pb *routev3.DirectResponseAction, maxBody int, p config.Path, errs *config.Errors) *DirectResponse {
	rejectUnsupported(errs, pb, p, "status", "body")
	d := &DirectResponse{Status: int(pb.GetStatus())}
	if d.Status < 200 || d.Status > 599 {
		errs.Addf(p.Field("status"), "route: status %d is out of range [200, 600)", d.Status)
	}
	if b := pb.GetBody(); b != nil {
		bp := p.Field("body")
		switch s := b.GetSpecifier().(type) {
		case *corev3.DataSource_InlineString:
			d.Body = []byte(s.InlineString)
		case *corev3.DataSource_InlineBytes:
			d.Body = s.InlineBytes
		default:
			errs.Addf(bp, "route: only inline_string and inline_bytes bodies are supported")
		}
		rejectUnsupported(errs, b, bp, "inline_string", "inline_bytes")
		if len(d.Body) > maxBody {
			errs.Addf(bp, "route: body is %d bytes, more than max_direct_response_body_size_bytes (%d)", len(d.Body), maxBody)
		}
	}
	return d
}

func translateRedirect(pb *routev3.RedirectAction, m *matcher, p config.Path, errs *config.Errors) *RedirectSpec {
	rejectUnsupported(errs, pb, p, "https_redirect", "scheme_redirect", "host_redirect", "port_redirect",
		"path_redirect", "prefix_rewrite", "regex_rewrite", "response_code", "strip_query")
	s := &RedirectSpec{Host: pb.GetHostRedirect(), Port: pb.GetPortRedirect(), StripQuery: pb.GetStripQuery()}
	switch sc := pb.GetSchemeRewriteSpecifier().(type) {
	case *routev3.RedirectAction_HttpsRedirect:
		if sc.HttpsRedirect {
			s.Scheme = "https"
		}
	case *routev3.RedirectAction_SchemeRedirect:
		s.Scheme = strings.ToLower(sc.SchemeRedirect)
	}
	switch pr := pb.GetPathRewriteSpecifier().(type) {
	case *routev3.RedirectAction_PathRedirect:
		s.Path = pr.PathRedirect
	case *routev3.RedirectAction_PrefixRewrite:
		if m.kind == pathRegex {
			errs.Addf(p.Field("prefix_rewrite"), "route: prefix_rewrite cannot be used with a safe_regex match")
		}
		s.PrefixRewrite, s.hasPrefix = pr.PrefixRewrite, true
	case *routev3.RedirectAction_RegexRewrite:
		s.regex, s.regexSubst = compileRewrite(pr.RegexRewrite.GetPattern(), pr.RegexRewrite.GetSubstitution(), p.Field("regex_rewrite"), errs)
	}
	switch pb.GetResponseCode() {
	case routev3.RedirectAction_MOVED_PERMANENTLY:
		s.Status = http.StatusMovedPermanently
	case routev3.RedirectAction_FOUND:
		s.Status = http.StatusFound
	case routev3.RedirectAction_SEE_OTHER:
		s.Status = http.StatusSeeOther
	case routev3.RedirectAction_TEMPORARY_REDIRECT:
		s.Status = http.StatusTemporaryRedirect
	case routev3.RedirectAction_PERMANENT_REDIRECT:
		s.Status = http.StatusPermanentRedirect
	}
	return s
}
