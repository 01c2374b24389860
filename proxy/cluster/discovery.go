package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/outrider-mesh/outrider/proxy/failure"
)

// resolver is the DNS client; tests may replace it.
var resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
} = net.DefaultResolver

// dnsResolveTimeout bounds one round of resolutions (Envoy's c-ares
// default query timeout is 5 s too); tests may shorten it.
var dnsResolveTimeout = 5 * time.Second

// resolveLoop resolves a STRICT_DNS or LOGICAL_DNS cluster's names every
// dns_refresh_rate.
//
// The cluster is warm once its first round has completed, whether its
// names resolved or not: Envoy's DNS clusters call onPreInitComplete from
// every resolution callback, failed ones included. A cluster whose names
// do not resolve therefore starts (or, on a reload, replaces the cluster
// it changes) without endpoints, answering 503 UH, and takes its hosts
// from the first later round that resolves them; waiting for a success
// instead would keep a reload's old cluster serving forever, and the
// initial load waiting.
func (c *Cluster) resolveLoop() {
	defer close(c.disc.done)
	// last holds each endpoint's hosts from its latest successful
	// resolution: a name that fails keeps them, the others move on
	// (Envoy resolves each target on its own).
	last := make([][]*Host, len(c.s.endpoints))
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-c.disc.ctx.Done():
			return
		case <-t.C:
		}
		c.resolveOnce(last)
		if c.disc.ctx.Err() != nil {
			return // stopped mid-round: neither warm nor updated
		}
		c.markWarm()
		t.Reset(c.s.dnsRefresh)
	}
}

// resolveOnce resolves every endpoint's name at once and swaps in the
// hosts they give, keeping last[i] for an endpoint whose name failed.
func (c *Cluster) resolveOnce(last [][]*Host) {
	ctx, cancel := context.WithTimeout(c.disc.ctx, dnsResolveTimeout)
	defer cancel()
	addrs := make([][]netip.Addr, len(c.s.endpoints))
	errs := make([]error, len(c.s.endpoints))
	var wg sync.WaitGroup
	for i, e := range c.s.endpoints {
		c.stats.UpdateAttempt.Inc()
		wg.Go(func() { addrs[i], errs[i] = c.lookup(ctx, e.host) })
	}
	wg.Wait()
	if c.disc.ctx.Err() != nil {
		return
	}
	current := c.hosts.Load().hosts
	var hosts []*Host
	for i, e := range c.s.endpoints {
		if errs[i] != nil {
			c.stats.UpdateFailure.Inc()
			hosts = append(hosts, last[i]...)
			continue
		}
		c.stats.UpdateSuccess.Inc()
		as := addrs[i]
		if c.s.kind == clusterv3.Cluster_LOGICAL_DNS {
			as = as[:1] // one logical host: the first address
		}
		name := e.hostname
		if name == "" {
			name = e.host
		}
		mine := make([]*Host, 0, len(as))
		for _, a := range as {
			ap := netip.AddrPortFrom(a, e.port)
			// Keep the Host (and its pool) of an address that stays.
			j := slices.IndexFunc(current, func(h *Host) bool {
				return h.addr == ap && h.weight == e.weight && h.hostname == name && h.health == e.health
			})
			if j >= 0 {
				mine = append(mine, current[j])
			} else {
				mine = append(mine, c.newHost(ap, e.weight, name, e.health))
			}
		}
		last[i] = mine
		hosts = append(hosts, mine...)
	}
	if !slices.Equal(hosts, current) {
		c.setHosts(hosts)
	}
}

// lookup resolves name following dns_lookup_family.
func (c *Cluster) lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(name); err == nil {
		return []netip.Addr{ip}, nil
	}
	network := "ip"
	switch c.s.dnsFamily {
	case clusterv3.Cluster_V4_ONLY:
		network = "ip4"
	case clusterv3.Cluster_V6_ONLY:
		network = "ip6"
	}
	addrs, err := resolver.LookupNetIP(ctx, network, name)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: resolve %q: %w", c.s.name, name, err)
	}
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	var out []netip.Addr
	switch c.s.dnsFamily {
	case clusterv3.Cluster_AUTO: // IPv6 first, IPv4 when there is none
		out = v6
		if len(out) == 0 {
			out = v4
		}
	case clusterv3.Cluster_V4_PREFERRED:
		out = v4
		if len(out) == 0 {
			out = v6
		}
	default:
		out = append(v4, v6...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cluster %s: %q has no address of the wanted family", c.s.name, name)
	}
	return out, nil
}

// origDstHosts are an ORIGINAL_DST cluster's hosts, made on demand from
// each connection's original destination and removed once idle for a
// cleanup_interval.
type origDstHosts struct {
	c     *Cluster
	fast  sync.Map // netip.AddrPort → *Host, read without the lock
	mu    sync.Mutex
	hosts map[netip.AddrPort]*Host
}

func (o *origDstHosts) pick(lb *LBContext) (*Host, error) {
	if lb == nil || !lb.OriginalDst.IsValid() {
		return nil, failure.ErrNoHealthyUpstream.With(fmt.Errorf("cluster %s: no original destination", o.c.s.name))
	}
	if h, ok := o.fast.Load(lb.OriginalDst); ok {
		h.(*Host).touch()
		return h.(*Host), nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	h, ok := o.hosts[lb.OriginalDst]
	if !ok {
		h = o.c.newHost(lb.OriginalDst, 1, "", corev3.HealthStatus_UNKNOWN)
		o.hosts[lb.OriginalDst] = h
		o.fast.Store(lb.OriginalDst, h)
		o.c.stats.MembershipTotal.Set(int64(len(o.hosts)))
		o.c.stats.MembershipHealthy.Set(int64(len(o.hosts)))
		o.c.stats.MembershipChange.Inc()
	}
	h.touch()
	return h, nil
}

func (o *origDstHosts) all() []*Host {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]*Host, 0, len(o.hosts))
	for _, h := range o.hosts {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b *Host) int { return a.addr.Compare(b.addr) })
	return out
}

// cleanup removes hosts that had no request in flight and were not picked
// during the last cleanup_interval.
func (o *origDstHosts) cleanup() {
	defer close(o.c.disc.done)
	t := time.NewTicker(o.c.s.cleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-o.c.disc.ctx.Done():
			return
		case now := <-t.C:
			cutoff := now.Add(-o.c.s.cleanupInterval).UnixNano()
			o.mu.Lock()
			for a, h := range o.hosts {
				if h.idle() && h.lastUsed.Load() < cutoff {
					delete(o.hosts, a)
					o.fast.Delete(a)
					h.drain()
					o.c.stats.MembershipChange.Inc()
				}
			}
			o.c.stats.MembershipTotal.Set(int64(len(o.hosts)))
			o.c.stats.MembershipHealthy.Set(int64(len(o.hosts)))
			o.mu.Unlock()
		}
	}
}
