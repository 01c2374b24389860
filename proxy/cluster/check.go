package cluster

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/transport/tls"
)

// Check translates pbs as Update would, reporting every error with its
// path, without starting anything (--validate).
func Check(pbs []*clusterv3.Cluster, p config.Path) error {
	var errs config.Errors
	seen := map[string]bool{}
	// TLS contexts read their certificate files; a registry of its own
	// keeps SDS watchers from outliving the check.
	reg := tls.NewRegistry(nil, nil)
	defer reg.Close()
	store := stats.NewStore()
	for i, pb := range pbs {
		ip := p.Index(i)
		translateTLS(pb, translate(pb, ip, &errs), reg, store, ip, &errs)
		if seen[pb.GetName()] {
			errs.Addf(ip.Field("name"), "cluster: duplicate cluster name %q", pb.GetName())
		}
		seen[pb.GetName()] = true
	}
	return errs.Err()
}
