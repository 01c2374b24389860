package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// dnsClusterOf is a DNS cluster named dns of the given type, re-resolving
// every 0.1 s, with one endpoint per host.
func dnsClusterOf(kind string, hosts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- name: dns\n  type: %s\n  dns_refresh_rate: 0.1s\n  load_assignment:\n    endpoints:\n    - lb_endpoints:\n", kind)
	for _, h := range hosts {
		fmt.Fprintf(&b, "      - endpoint: {address: {socket_address: {address: %s, port_value: 80}}}\n", h)
	}
	return b.String()
}

// shortDNSTimeout bounds each resolution round to 300 ms for the test, so
// that a server that never answers costs little time.
func shortDNSTimeout(t *testing.T) {
	saved := dnsResolveTimeout
	dnsResolveTimeout = 300 * time.Millisecond
	t.Cleanup(func() { dnsResolveTimeout = saved })
}

// addrsOf are the addresses of the cluster's hosts.
func addrsOf(c *Cluster) []string {
	var out []string
	for _, h := range c.Hosts() {
		out = append(out, h.Address().Addr().String())
	}
	return out
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// expectNoHealthyUpstream checks that a request to c is answered 503 UH.
func expectNoHealthyUpstream(t *testing.T, c *Cluster) {
	t.Helper()
	_, err := c.Pick(nil)
	if !errors.Is(err, failure.ErrNoHealthyUpstream) {
		t.Fatalf("pick: %v, want no healthy upstream", err)
	}
	if status, flags, body := failure.Reply(err); status != 503 || flags != failure.NoHealthyUpstream || body != "no healthy upstream" {
		t.Errorf("answered %d %v %q, want 503 UH \"no healthy upstream\"", status, flags, body)
	}
}

func TestADNSClusterIsWarmAfterItsFirstResolutionAttemptEvenAFailedOne(t *testing.T) {
	tests := []struct {
		name string
		kind string
		mode int // how the name fails at first
	}{
		{name: "a STRICT_DNS name that does not exist", kind: "STRICT_DNS", mode: nxdomain},
		{name: "a STRICT_DNS name whose server fails", kind: "STRICT_DNS", mode: servfail},
		{name: "a STRICT_DNS name whose server never answers", kind: "STRICT_DNS", mode: mute},
		{name: "a LOGICAL_DNS name that does not exist", kind: "LOGICAL_DNS", mode: nxdomain},
		{name: "a LOGICAL_DNS name whose server never answers", kind: "LOGICAL_DNS", mode: mute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shortDNSTimeout(t)
			dns := startDNS(t)
			dns.fail("later.test", tt.mode)
			m, store := newManager(t, dnsClusterOf(tt.kind, "later.test"))

			// The initial load does not wait for a name that never resolves.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := m.WaitWarm(ctx); err != nil {
				t.Fatalf("the cluster did not warm after its first, failed, resolution: %v", err)
			}
			c := m.Get("dns")
			expectNoHealthyUpstream(t, c)
			if n := stats.ClusterScope(store, "dns").Counter("update_failure").Value(); n == 0 {
				t.Error("update_failure did not move")
			}

			// A later resolution that succeeds brings the host in.
			dns.set("later.test", netip.MustParseAddr("127.0.0.7"))
			eventually(t, "the name resolved but the cluster has no host", func() bool {
				return slices.Equal(addrsOf(c), []string{"127.0.0.7"})
			})
			if _, err := c.Pick(nil); err != nil {
				t.Errorf("pick after the resolution: %v", err)
			}
		})
	}
}

func TestAReloadToANameThatDoesNotResolveReplacesTheOldClusterAfterTheFirstAttempt(t *testing.T) {
	shortDNSTimeout(t)
	dns := startDNS(t)
	dns.set("old.test", netip.MustParseAddr("127.0.0.1"))
	dns.fail("new.test", nxdomain)
	m, _ := newManager(t, dnsClusterOf("STRICT_DNS", "old.test"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.WaitWarm(ctx); err != nil {
		t.Fatal(err)
	}
	old := m.Get("dns")

	if err := m.Update(parseClusters(t, dnsClusterOf("STRICT_DNS", "new.test")), "static_resources.clusters"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the old cluster still serves after the new one's first resolution", func() bool {
		return m.Get("dns") != old
	})
	expectNoHealthyUpstream(t, m.Get("dns"))
	if old.disc.ctx.Err() == nil {
		t.Error("the replaced cluster was not stopped")
	}

	dns.set("new.test", netip.MustParseAddr("127.0.0.2"))
	eventually(t, "the new name resolved but the cluster has no host", func() bool {
		return slices.Equal(addrsOf(m.Get("dns")), []string{"127.0.0.2"})
	})
}

func TestANameThatStopsResolvingKeepsItsHostsWhileTheOthersMoveOn(t *testing.T) {
	shortDNSTimeout(t)
	dns := startDNS(t)
	dns.set("a.test", netip.MustParseAddr("127.0.0.1"))
	dns.set("b.test", netip.MustParseAddr("127.0.0.2"))
	m, store := newManager(t, dnsClusterOf("STRICT_DNS", "a.test", "b.test"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.WaitWarm(ctx); err != nil {
		t.Fatal(err)
	}
	c := m.Get("dns")
	if got := addrsOf(c); !slices.Equal(got, []string{"127.0.0.1", "127.0.0.2"}) {
		t.Fatalf("hosts %v", got)
	}

	dns.fail("b.test", servfail)
	dns.set("a.test", netip.MustParseAddr("127.0.0.3"))
	eventually(t, "a.test's new address did not arrive", func() bool {
		return slices.Contains(addrsOf(c), "127.0.0.3")
	})
	failures := stats.ClusterScope(store, "dns").Counter("update_failure")
	eventually(t, "b.test did not fail twice", func() bool { return failures.Value() >= 2 })
	if got := addrsOf(c); !slices.Equal(got, []string{"127.0.0.3", "127.0.0.2"}) {
		t.Errorf("hosts %v, want a.test's new 127.0.0.3 beside b.test's last 127.0.0.2", got)
	}
}
