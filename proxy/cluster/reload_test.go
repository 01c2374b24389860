package cluster

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAReplacedStaticClusterHasItsEndpointsAsSoonAsItIsVisible(t *testing.T) {
	m, _ := newManager(t, staticCluster("backend", "127.0.0.1:1"))
	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		misses atomic.Int32
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := m.Get("backend").Pick(nil); err != nil {
					misses.Add(1)
				}
			}
		}()
	}
	for i := range 200 {
		// Alternate the endpoint so that every update replaces the cluster.
		addr := "127.0.0.1:1"
		if i%2 == 0 {
			addr = "127.0.0.1:2"
		}
		if err := m.Update(parseClusters(t, staticCluster("backend", addr)), "static_resources.clusters"); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := misses.Load(); n > 0 {
		t.Errorf("%d picks found a replaced cluster without endpoints", n)
	}
}

// gatedResolver answers names from a table; a name whose gate is set waits
// for the gate to close first.
type gatedResolver struct {
	addrs map[string]netip.Addr
	gates map[string]chan struct{}
}

func (r *gatedResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	if g := r.gates[host]; g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	a, ok := r.addrs[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []netip.Addr{a}, nil
}

func dnsCluster(host string) string {
	return `
- name: dns
  type: STRICT_DNS
  dns_refresh_rate: 60s
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: {address: {socket_address: {address: ` + host + `, port_value: 80}}}
`
}

func TestAChangedClusterServesOnlyOnceWarmTheOldOneUntilThen(t *testing.T) {
	gate := make(chan struct{})
	r := &gatedResolver{
		addrs: map[string]netip.Addr{"old.test": netip.MustParseAddr("10.0.0.1"), "new.test": netip.MustParseAddr("10.0.0.2"),
			"other.test": netip.MustParseAddr("10.0.0.3")},
		gates: map[string]chan struct{}{"new.test": gate, "other.test": make(chan struct{})},
	}
	saved := resolver
	resolver = r
	t.Cleanup(func() { resolver = saved })

	m, _ := newManager(t, dnsCluster("old.test"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.WaitWarm(ctx); err != nil {
		t.Fatal(err)
	}
	old := m.Get("dns")
	picked := func() string {
		h, err := m.Get("dns").Pick(nil)
		if err != nil {
			t.Fatalf("pick: %v", err)
		}
		return h.Address().Addr().String()
	}

	// A change whose resolution hangs, then another one: the second
	// replaces the first while both warm, and the old cluster serves.
	for _, host := range []string{"other.test", "new.test"} {
		if err := m.Update(parseClusters(t, dnsCluster(host)), "static_resources.clusters"); err != nil {
			t.Fatal(err)
		}
		if m.Get("dns") != old || picked() != "10.0.0.1" {
			t.Fatalf("after the change to %s the cluster serving is not the old one", host)
		}
	}
	close(gate)
	deadline := time.Now().Add(5 * time.Second)
	for m.Get("dns") == old {
		if time.Now().After(deadline) {
			t.Fatal("the warm cluster was not published")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := picked(); got != "10.0.0.2" {
		t.Errorf("picked %s, want the new cluster's 10.0.0.2", got)
	}
	if old.disc.ctx.Err() == nil {
		t.Error("the replaced cluster was not stopped")
	}
	m.mu.Lock()
	left := len(m.warming)
	m.mu.Unlock()
	if left != 0 {
		t.Errorf("%d clusters still warming; the superseded one should have been dropped", left)
	}
}
