package cluster

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// Check translates pbs as Update would, reporting every error with its
// path, without starting anything (--validate).
func Check(pbs []*clusterv3.Cluster, p config.Path) error {
	var errs config.Errors
	seen := map[string]bool{}
	for i, pb := range pbs {
		ip := p.Index(i)
		translate(pb, ip, &errs)
		if seen[pb.GetName()] {
			errs.Addf(ip.Field("name"), "cluster: duplicate cluster name %q", pb.GetName())
		}
		seen[pb.GetName()] = true
	}
	return errs.Err()
}
