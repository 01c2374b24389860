package config

import (
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// routeConfig checks an inline RouteConfiguration: unique virtual host
// names and domains, the clusters its routes name, weights and retry_on.
func (v *validation) routeConfig(rc *routev3.RouteConfiguration, p Path, clusters map[string]bool) {
	if vc := rc.GetValidateClusters(); vc != nil && !vc.GetValue() {
		clusters = nil // routes may name clusters that do not exist (503 NC)
	}
	names := map[string]int{}
	domains := map[string]int{}
	for i, vh := range rc.GetVirtualHosts() {
		vp := p.Field("virtual_hosts").Index(i)
		if j, dup := names[vh.GetName()]; dup {
			v.invalid.Addf(vp.Field("name"), "duplicate virtual host name %q (also virtual_hosts[%d])", vh.GetName(), j)
		} else {
			names[vh.GetName()] = i
		}
		for k, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			if j, dup := domains[d]; dup {
				v.invalid.Addf(vp.Field("domains").Index(k), "domain %q is already used by virtual_hosts[%d]", d, j)
			} else {
				domains[d] = i
			}
		}
		v.retryPolicy(vh.GetRetryPolicy(), vp.Field("retry_policy"))
		for j, r := range vh.GetRoutes() {
			v.routeAction(r.GetRoute(), vp.Field("routes").Index(j).Field("route"), clusters)
		}
	}
}

func (v *validation) routeAction(ra *routev3.RouteAction, p Path, clusters map[string]bool) {
	if ra == nil {
		return
	}
	if c, ok := ra.GetClusterSpecifier().(*routev3.RouteAction_Cluster); ok && clusters != nil {
		v.clusterRef(c.Cluster, p.Field("cluster"), clusters)
	}
	if wc := ra.GetWeightedClusters(); wc != nil {
		wp := p.Field("weighted_clusters")
		var sum uint64
		for i, cw := range wc.GetClusters() {
			if clusters != nil {
				v.clusterRef(cw.GetName(), wp.Field("clusters").Index(i).Field("name"), clusters)
			}
			sum += uint64(cw.GetWeight().GetValue())
		}
		v.weightSum(sum, wp.Field("clusters"))
		if tw := wc.GetTotalWeight(); tw != nil && uint64(tw.GetValue()) != sum {
			v.invalid.Addf(wp.Field("total_weight"), "total_weight %d is not the sum of the weights (%d)", tw.GetValue(), sum)
		}
	}
	v.retryPolicy(ra.GetRetryPolicy(), p.Field("retry_policy"))
	seen := map[string]bool{}
	for i, u := range ra.GetUpgradeConfigs() {
		t := strings.ToLower(u.GetUpgradeType())
		up := p.Field("upgrade_configs").Index(i).Field("upgrade_type")
		switch {
		case !upgradeTypes[t]:
			v.invalid.Addf(up, "upgrade type %q is not supported (supported: websocket)", u.GetUpgradeType())
		case seen[t]:
			v.invalid.Addf(up, "upgrade type %q is configured twice", u.GetUpgradeType())
		}
		seen[t] = true
	}
}

// retryPolicy checks each retry_on condition against the router's.
func (v *validation) retryPolicy(rp *routev3.RetryPolicy, p Path) {
	if rp == nil || rp.GetRetryOn() == "" {
		return
	}
	for _, c := range strings.Split(rp.GetRetryOn(), ",") {
		if c = strings.TrimSpace(c); c != "" && !retryOnTokens[c] {
			v.invalid.Addf(p.Field("retry_on"), "retry_on condition %q is not supported (supported: %s)", c, strings.Join(sortedKeys(retryOnTokens), ", "))
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
