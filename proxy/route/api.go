// Package route is the route table of an HTTP connection manager: virtual
// hosts chosen by authority, routes matched in order, and the action each
// one takes (forward to a cluster, answer directly, redirect), translated
// once from Envoy's RouteConfiguration.
//
// CONTRACT (frozen by the lead; other packages code against these names):
// Translate, (*Table).Match, (*Route).Name. Add freely; do not rename or
// change these signatures.
package route

import (
	"net/http"
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/retry"
)

// Table is an immutable, translated RouteConfiguration.
type Table struct {
	name    string
	domains domainIndex
	// ignorePort matches the authority without its port
	// (ignore_port_in_host_matching).
	ignorePort bool
}

// Translate builds a Table from rc, found at path p. hasCluster reports
// whether a cluster name exists, so that routes to unknown clusters are
// rejected at load as Envoy does for static routes (validate_clusters); it
// may be nil to skip that check.
func Translate(rc *routev3.RouteConfiguration, hasCluster func(name string) bool, p config.Path) (*Table, error) {
	var errs config.Errors
	t := translateTable(rc, hasCluster, p, &errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// Name is the route configuration's name.
func (t *Table) Name() string { return t.name }

// Match returns the route for r, or nil when no virtual host or route
// matches (the router answers 404 with flag NR).
func (t *Table) Match(r *http.Request) *Route {
	host := r.Host
	if t.ignorePort {
		host, _ = splitHostPort(host)
	}
	vh := t.domains.lookup(strings.ToLower(host))
	if vh == nil {
		return nil
	}
	path := RequestPath(r)
	noQuery := path
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		noQuery = path[:i]
	}
	for _, rt := range vh.routes {
		if rt.match.match(r, path, noQuery) {
			return rt
		}
	}
	return nil
}

// RequestPath is r's :path (path and query as received).
func RequestPath(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" {
		return r.URL.RequestURI()
	}
	if uri[0] != '/' && uri != "*" {
		// absolute-form: keep the path part
		if i := strings.Index(uri, "://"); i >= 0 {
			rest := uri[i+3:]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				return rest[j:]
			}
			return "/"
		}
	}
	return uri
}

// VirtualHost is a translated virtual host.
type VirtualHost struct {
	Name   string
	routes []*Route
}

// Route is one matched route with its action.
type Route struct {
	name  string
	vhost *VirtualHost
	match matcher

	// Action says which of the fields below apply.
	Action Action

	// Forward: the cluster is Cluster, or one of Weighted, or the value of
	// the ClusterHeader request header (see Target).
	Cluster               string
	Weighted              []WeightedCluster
	weightTotal           uint64
	ClusterHeader         string
	ClusterNotFoundStatus int // cluster_not_found_response_code, default 503
	// Timeout is the route timeout (default 15s; zero disables it).
	Timeout time.Duration
	// IdleTimeout is the stream idle timeout of the route; zero means the
	// connection manager's.
	IdleTimeout time.Duration
	// Retry is the route's retry_policy, or its virtual host's; nil when
	// neither has one.
	Retry *retry.Policy
	// BufferLimit is per_request_buffer_limit_bytes: how much of the
	// request body is kept for retries.
	BufferLimit   int
	PrefixRewrite string
	// regexRewrite is regex_rewrite; nil without one (most routes).
	regexRewrite    *regexRewrite
	HostRewrite     string // host_rewrite_literal
	AutoHostRewrite bool
	// Beside AutoHostRewrite, where it takes no room of its own.
	hasPrefixRewrite bool
	// Websocket overrides the connection manager's upgrade_configs for
	// this route when not nil.
	Websocket *bool
	// IncludeAttemptCount adds x-envoy-attempt-count to upstream requests;
	// IncludeAttemptCountInResponse to downstream responses.
	IncludeAttemptCount           bool
	IncludeAttemptCountInResponse bool

	// Respond and Redirect.
	Direct   *DirectResponse
	Redirect *RedirectSpec

	// RequestHeaders and ResponseHeaders are the mutations of the route,
	// virtual host and route configuration levels, in Envoy's order. With
	// weighted clusters, use the Target's instead.
	RequestHeaders  Mutations
	ResponseHeaders Mutations
}

// Name is the route's name ("" when unnamed).
func (r *Route) Name() string { return r.name }

// VirtualHost is the virtual host the route belongs to.
func (r *Route) VirtualHost() *VirtualHost { return r.vhost }

// RedirectLocation is the Location of a Redirect route's answer to req.
func (r *Route) RedirectLocation(req *http.Request) string {
	return r.Redirect.Location(req, RequestPath(req), &r.match)
}
