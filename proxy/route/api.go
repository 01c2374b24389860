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

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// Table is an immutable, translated RouteConfiguration.
type Table struct {
	name string
}

// Translate builds a Table from rc, found at path p. hasCluster reports
// whether a cluster name exists, so that routes to unknown clusters are
// rejected at load as Envoy does for static routes (validate_clusters); it
// may be nil to skip that check.
func Translate(rc *routev3.RouteConfiguration, hasCluster func(name string) bool, p config.Path) (*Table, error) {
	panic("route: Translate not implemented")
}

// Match returns the route for r, or nil when no virtual host or route
// matches (the router answers 404 with flag NR).
func (t *Table) Match(r *http.Request) *Route {
	panic("route: Match not implemented")
}

// Route is one matched route with its action.
type Route struct {
	name string
}

// Name is the route's name ("" when unnamed).
func (r *Route) Name() string { return r.name }
