// Package httpfilter is the contract between the HTTP connection manager
// and the HTTP filters it chains (envoy.filters.http.*).
//
// A filter is a function that wraps the rest of the chain, in the style of
// net/http middleware: it may answer locally, change the request, or call
// next. The per-stream record (streaminfo.From(r.Context())) carries the
// matched route and everything the access log reports. The router filter
// is the last one and sends the request upstream.
package httpfilter

import (
	"net/http"

	"google.golang.org/protobuf/proto"

	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Filter wraps next.
type Filter func(next http.Handler) http.Handler

// Env is what a filter may use when it is built.
type Env struct {
	Clusters *cluster.Manager
	Stats    *stats.Store
	// Scope is the connection manager's scope ("http.<stat_prefix>.").
	Scope stats.Scope
}

// Factory builds a filter from its typed config (already unpacked from the
// Any), once per configuration load. p is the path of the filter's
// typed_config, for errors.
type Factory func(cfg proto.Message, env *Env, p config.Path) (Filter, error)
