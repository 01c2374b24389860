package route

import (
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/retry"
)

// Action is what a matched route does.
type Action uint8

const (
	// Forward sends the request to a cluster (RouteAction).
	Forward Action = iota
	// Respond answers directly (DirectResponseAction).
	Respond
	// Redirect answers with a redirect (RedirectAction).
	Redirect
)

// DefaultTimeout is Envoy's route timeout.
const DefaultTimeout = 15 * time.Second

// WeightedCluster is one entry of weighted_clusters, with the header
// mutations of every level already chained.
type WeightedCluster struct {
	Name            string
	Weight          uint32
	RequestHeaders  Mutations
	ResponseHeaders Mutations
}

// DirectResponse is a direct_response action.
type DirectResponse struct {
	Status int
	Body   []byte
}

// RedirectSpec is a redirect action.
type RedirectSpec struct {
	Status        int
	Scheme        string // "" keeps the request's
	Host          string // "" keeps the request's
	Port          uint32 // 0 keeps the request's
	Path          string // path_redirect; "" keeps the request's
	PrefixRewrite string
	hasPrefix     bool
	regex         *regexp.Regexp
	regexSubst    string
	StripQuery    bool
}

// pickWeighted chooses a weighted cluster in proportion to the weights;
// the total is their sum (total_weight is deprecated in Envoy's API).
func (r *Route) pickWeighted() *WeightedCluster {
	x := rand.Uint64N(r.weightTotal)
	for i := range r.Weighted {
		w := uint64(r.Weighted[i].Weight)
		if x < w {
			return &r.Weighted[i]
		}
		x -= w
	}
	return &r.Weighted[len(r.Weighted)-1]
}

// Target is the cluster chosen for one request and the header mutations
// that go with it.
type Target struct {
	Cluster         string // "" when cluster_header names no cluster
	RequestHeaders  Mutations
	ResponseHeaders Mutations
}

// Target chooses the cluster for req: the route's cluster, a weighted
// pick, or the value of cluster_header.
func (r *Route) Target(req *http.Request) Target {
	switch {
	case r.Weighted != nil:
		wc := r.pickWeighted()
		return Target{Cluster: wc.Name, RequestHeaders: wc.RequestHeaders, ResponseHeaders: wc.ResponseHeaders}
	case r.ClusterHeader != "":
		return Target{Cluster: req.Header.Get(r.ClusterHeader), RequestHeaders: r.RequestHeaders, ResponseHeaders: r.ResponseHeaders}
	}
	return Target{Cluster: r.Cluster, RequestHeaders: r.RequestHeaders, ResponseHeaders: r.ResponseHeaders}
}

// regexRewrite is a route's regex_rewrite.
type regexRewrite struct {
	re    *regexp.Regexp
	subst string
}

// RewritePath applies prefix_rewrite or regex_rewrite to path (the
// :path, with its query) and reports whether it changed.
func (r *Route) RewritePath(path string) (string, bool) {
	if rr := r.regexRewrite; rr != nil {
		return rewritePath(path, &r.match, r.hasPrefixRewrite, r.PrefixRewrite, rr.re, rr.subst)
	}
	return rewritePath(path, &r.match, r.hasPrefixRewrite, r.PrefixRewrite, nil, "")
}

func rewritePath(path string, m *matcher, hasPrefix bool, prefix string, re *regexp.Regexp, subst string) (string, bool) {
	switch {
	case hasPrefix:
		n := len(m.path)
		if m.kind == pathExact {
			n = len(path)
			if i := strings.IndexByte(path, '?'); i >= 0 {
				n = i
			}
		}
		if n > len(path) {
			return path, false
		}
		return prefix + path[n:], true
	case re != nil:
		p, q, hasQ := strings.Cut(path, "?")
		p = re.ReplaceAllString(p, subst)
		if hasQ {
			p += "?" + q
		}
		return p, true
	}
	return path, false
}

// Location is the redirect's target for req, whose :path is path.
func (s *RedirectSpec) Location(req *http.Request, path string, m *matcher) string {
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	if xf := req.Header.Get("X-Forwarded-Proto"); xf != "" {
		scheme = xf
	}
	origScheme := scheme
	if s.Scheme != "" {
		scheme = s.Scheme
	}
	host, port := splitHostPort(req.Host)
	if s.Host != "" {
		h, p := splitHostPort(s.Host)
		host = h
		if p != "" {
			port = p
		}
	}
	if scheme != origScheme && port == defaultPort(origScheme) {
		port = ""
	}
	if s.Port != 0 {
		port = uitoa(s.Port)
	}
	if port == defaultPort(scheme) {
		port = ""
	}
	switch {
	case s.Path != "":
		if strings.Contains(s.Path, "?") {
			path = s.Path
		} else {
			_, q, hasQ := strings.Cut(path, "?")
			path = s.Path
			if hasQ {
				path += "?" + q
			}
		}
	default:
		path, _ = rewritePath(path, m, s.hasPrefix, s.PrefixRewrite, s.regex, s.regexSubst)
	}
	if s.StripQuery {
		path, _, _ = strings.Cut(path, "?")
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + path
}

func splitHostPort(hp string) (host, port string) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]"), ""
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

func uitoa(v uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// compileRewrite compiles a regex_rewrite, turning RE2's \1 references
// into Go's ${1}.
func compileRewrite(rm *matcherv3.RegexMatcher, subst string, p config.Path, errs *config.Errors) (*regexp.Regexp, string) {
	rejectUnsupported(errs, rm, p.Field("pattern"), "google_re2", "regex")
	re, err := regexp.Compile(rm.GetRegex())
	if err != nil {
		errs.Addf(p.Field("pattern").Field("regex"), "route: %w", err)
		return nil, ""
	}
	var b strings.Builder
	for i := 0; i < len(subst); i++ {
		c := subst[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(subst) && subst[i+1] >= '0' && subst[i+1] <= '9':
			b.WriteString("${" + subst[i+1:i+2] + "}")
			i++
		case c == '\\' && i+1 < len(subst):
			b.WriteByte(subst[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return re, b.String()
}

// levels are a route's header mutations by level (route, virtual host,
// route configuration), which each weighted cluster's own precede.
func translateRouteAction(a *arena, ra *routev3.RouteAction, r *Route, vh *vhostSettings, reqLevels, respLevels []*headerOps,
	p config.Path, errs *config.Errors, hasCluster func(string) bool) {
	rejectUnsupported(errs, ra, p, "cluster", "cluster_header", "weighted_clusters", "cluster_not_found_response_code",
		"prefix_rewrite", "regex_rewrite", "host_rewrite_literal", "auto_host_rewrite", "timeout", "idle_timeout",
		"retry_policy", "upgrade_configs")
	r.Timeout = DefaultTimeout
	if t := ra.GetTimeout(); t != nil {
		r.Timeout = t.AsDuration()
	}
	if t := ra.GetIdleTimeout(); t != nil {
		r.IdleTimeout = t.AsDuration()
	}
	r.ClusterNotFoundStatus = http.StatusServiceUnavailable
	switch ra.GetClusterNotFoundResponseCode() {
	case routev3.RouteAction_NOT_FOUND:
		r.ClusterNotFoundStatus = http.StatusNotFound
	case routev3.RouteAction_INTERNAL_SERVER_ERROR:
		r.ClusterNotFoundStatus = http.StatusInternalServerError
	}
	checkCluster := func(name string, cp config.Path) {
		if hasCluster != nil && !hasCluster(name) {
			errs.Addf(cp, "route: unknown cluster %q", name)
		}
	}
	switch cs := ra.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		r.Cluster = a.str(cs.Cluster)
		checkCluster(cs.Cluster, p.Field("cluster"))
	case *routev3.RouteAction_ClusterHeader:
		r.ClusterHeader = http.CanonicalHeaderKey(cs.ClusterHeader)
	case *routev3.RouteAction_WeightedClusters:
		wp := p.Field("weighted_clusters")
		// total_weight is deprecated: the sum of the weights is the total.
		rejectUnsupported(errs, cs.WeightedClusters, wp, "clusters", "total_weight")
		for i, cw := range cs.WeightedClusters.GetClusters() {
			cp := wp.Field("clusters").Index(i)
			rejectUnsupported(errs, cw, cp, "name", "weight", "request_headers_to_add", "request_headers_to_remove",
				"response_headers_to_add", "response_headers_to_remove")
			checkCluster(cw.GetName(), cp.Field("name"))
			req := translateHeaderOps(cw.GetRequestHeadersToAdd(), cw.GetRequestHeadersToRemove(),
				cp.Field("request_headers_to_add"), cp.Field("request_headers_to_remove"), errs)
			resp := translateHeaderOps(cw.GetResponseHeadersToAdd(), cw.GetResponseHeadersToRemove(),
				cp.Field("response_headers_to_add"), cp.Field("response_headers_to_remove"), errs)
			w := cw.GetWeight().GetValue()
			r.weightTotal += uint64(w)
			r.Weighted = append(r.Weighted, WeightedCluster{Name: a.str(cw.GetName()), Weight: w,
				RequestHeaders:  chain(vh.mostSpecificWins, append([]*headerOps{req}, reqLevels...)...),
				ResponseHeaders: chain(vh.mostSpecificWins, append([]*headerOps{resp}, respLevels...)...)})
		}
		if r.weightTotal == 0 {
			errs.Addf(wp.Field("clusters"), "route: the weights of weighted_clusters must add up to more than 0")
		}
	default:
		errs.Addf(p, "route: cluster, cluster_header or weighted_clusters is required")
	}
	if pr := ra.GetPrefixRewrite(); pr != "" {
		if r.match.kind == pathRegex {
			errs.Addf(p.Field("prefix_rewrite"), "route: prefix_rewrite cannot be used with a safe_regex match")
		}
		r.PrefixRewrite, r.hasPrefixRewrite = a.str(pr), true
	}
	if rr := ra.GetRegexRewrite(); rr != nil {
		rp := p.Field("regex_rewrite")
		if r.hasPrefixRewrite {
			errs.Addf(rp, "route: prefix_rewrite and regex_rewrite are mutually exclusive")
		}
		r.regexRewrite = &regexRewrite{}
		r.regexRewrite.re, r.regexRewrite.subst = compileRewrite(rr.GetPattern(), rr.GetSubstitution(), rp, errs)
	}
	switch hr := ra.GetHostRewriteSpecifier().(type) {
	case *routev3.RouteAction_HostRewriteLiteral:
		r.HostRewrite = a.str(hr.HostRewriteLiteral)
	case *routev3.RouteAction_AutoHostRewrite:
		r.AutoHostRewrite = hr.AutoHostRewrite.GetValue()
	}
	r.Retry = vh.retry
	if rp := ra.GetRetryPolicy(); rp != nil {
		r.Retry = retry.Translate(rp, p.Field("retry_policy"), errs)
	}
	for i, uc := range ra.GetUpgradeConfigs() {
		up := p.Field("upgrade_configs").Index(i)
		rejectUnsupported(errs, uc, up, "upgrade_type", "enabled")
		if !strings.EqualFold(uc.GetUpgradeType(), "websocket") {
			errs.Addf(up.Field("upgrade_type"), "route: upgrade type %q is not supported", uc.GetUpgradeType())
			continue
		}
		enabled := uc.GetEnabled() == nil || uc.GetEnabled().GetValue()
		r.Websocket = &enabled
	}
}
