package server

import (
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/outrider-mesh/outrider/proxy/accesslog"
	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/listener"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/transport/tls"
)

// Validate translates b the way Start would, without opening a socket or
// starting a cluster, and returns every problem with its field path. The
// loader (config.Load) has already checked the schema and the supported
// subset; this adds what only the translators know (regexes, formats,
// semantic rules).
func Validate(b *bootstrapv3.Bootstrap) error {
	var errs config.Errors
	sr := b.GetStaticResources()
	root := config.Path("static_resources")
	errs.Add(root.Field("clusters"), cluster.Check(sr.GetClusters(), root.Field("clusters")))
	store := stats.NewStore()
	logs := accesslog.NewManager(store)
	defer logs.Close()
	reg := tls.NewRegistry(nil, store)
	defer reg.Close()
	env := &listener.Env{
		Stats:       store,
		TLS:         reg,
		HTTPFilters: httpFilters(),
		AccessLogs: func(l []*accesslogv3.AccessLog, p config.Path) (network.AccessLogger, error) {
			return logs.Translate(l, p)
		},
	}
	errs.Add(root.Field("listeners"), listener.Check(sr.GetListeners(), env, root.Field("listeners")))
	return errs.Err()
}
