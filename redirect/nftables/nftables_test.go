package nftables_test

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/outrider-mesh/outrider/localpod"
	"github.com/outrider-mesh/outrider/redirect"
	"github.com/outrider-mesh/outrider/redirect/nftables"
)

// everyKindOfRule builds a ruleset that uses every kind of match: both
// families, excluded ports, byte-aligned and unaligned prefixes, included
// ports and CIDRs.
func everyKindOfRule(t *testing.T, ipv6 bool) redirect.Ruleset {
	t.Helper()
	c := redirect.DefaultConfig()
	c.IPv6 = ipv6
	c.ExcludeInboundPorts = []uint16{22}
	c.ExcludeOutboundPorts = []uint16{5432}
	c.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("169.254.0.0/16")}
	c.OutboundPorts = redirect.PortSet{Ports: []uint16{80}}
	c.OutboundCIDRs = redirect.CIDRSet{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}}
	if ipv6 {
		c.ExcludeOutboundCIDRs = append(c.ExcludeOutboundCIDRs, netip.MustParsePrefix("fd00:1::/61"))
		c.OutboundCIDRs.Prefixes = append(c.OutboundCIDRs.Prefixes, netip.MustParsePrefix("2001:db8::/32"))
	}
	rs, err := redirect.Build(c)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestRuleTextReadsLikeNft(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule redirect.Rule
		want string
	}{
		{name: "a hook jump limited to IPv4", rule: redirect.Rule{Family: redirect.IPv4, TCP: true, Verdict: redirect.Verdict{Kind: redirect.Jump, Chain: redirect.Outbound}},
			want: "meta nfproto ipv4 meta l4proto tcp jump outbound"},
		{name: "a source host on lo", rule: redirect.Rule{OutIface: "lo", Src: netip.MustParsePrefix("::6/128")},
			want: `oifname "lo" ip6 saddr ::6 return`},
		{name: "a negated prefix with an owner", rule: redirect.Rule{OutIface: "lo", Dst: netip.MustParsePrefix("127.0.0.0/8"), NotDst: true,
			Owner: redirect.Owner{Kind: redirect.GID, ID: 1337}, Verdict: redirect.Verdict{Kind: redirect.Jump, Chain: redirect.Inbound}},
			want: `oifname "lo" ip daddr != 127.0.0.0/8 meta skgid 1337 jump inbound`},
		{name: "a port", rule: redirect.Rule{DstPort: 15021}, want: "tcp dport 15021 return"},
		{name: "a redirect", rule: redirect.Rule{Verdict: redirect.Verdict{Kind: redirect.Redirect, Port: 15006}},
			want: "meta l4proto tcp redirect to :15006"},
		{name: "a negated owner", rule: redirect.Rule{Owner: redirect.Owner{Kind: redirect.UID, ID: 7, Not: true}}, want: "meta skuid != 7 return"},
		{name: "a whole family", rule: redirect.Rule{Dst: netip.MustParsePrefix("::/0")}, want: "meta nfproto ipv6 return"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nftables.RuleText(tc.rule); got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			if len(nftables.Exprs(tc.rule)) == 0 {
				t.Fatal("no expressions")
			}
		})
	}
}

func TestApplyInstallsWhatDescribeSays(t *testing.T) {
	node := localpod.NewTestNode(t, localpod.Options{})
	pod := node.AddTestPod(t, "app")
	b := &nftables.Backend{}
	ctx := context.Background()
	in := func(fn func() error) {
		t.Helper()
		if err := pod.Do(fn); err != nil {
			t.Fatal(err)
		}
	}
	nftList := func() string {
		t.Helper()
		if _, err := exec.LookPath("nft"); err != nil {
			return ""
		}
		out, err := pod.CombinedOutput(ctx, "nft", "list", "ruleset")
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	before := nftList()

	for _, ipv6 := range []bool{true, false, true} {
		rs := everyKindOfRule(t, ipv6)
		// Twice: the second run must replace, not add.
		in(func() error { return b.Apply(ctx, rs) })
		in(func() error { return b.Apply(ctx, rs) })
		in(func() error { return b.Verify(ctx, rs) })
		if got := nftList(); got != "" && got != nftables.Describe(rs) {
			t.Fatalf("ipv6=%v: nft lists\n%s\nwant\n%s", ipv6, got, nftables.Describe(rs))
		}
	}

	var installed bool
	in(func() (err error) { installed, err = b.Installed(ctx); return err })
	if !installed {
		t.Fatal("Installed is false after Apply")
	}

	// Someone else's change to our table is caught.
	if _, err := pod.CombinedOutput(ctx, "nft", "flush", "chain", "inet", "outrider", "outbound"); err == nil {
		err := pod.Do(func() error { return b.Verify(ctx, everyKindOfRule(t, true)) })
		if err == nil || !strings.Contains(err.Error(), "chain outbound has 0 rules") {
			t.Fatalf("Verify after tampering: %v", err)
		}
	}

	in(func() error { return b.Remove(ctx) })
	in(func() error { return b.Remove(ctx) }) // nothing left: still fine
	in(func() (err error) { installed, err = b.Installed(ctx); return err })
	if installed {
		t.Fatal("Installed is true after Remove")
	}
	if after := nftList(); after != before {
		t.Fatalf("Remove left\n%s\nwas\n%s", after, before)
	}
}

func TestProbeSucceedsAndLeavesNothingBehind(t *testing.T) {
	node := localpod.NewTestNode(t, localpod.Options{})
	pod := node.AddTestPod(t, "app")
	if err := pod.Do(func() error { return (&nftables.Backend{}).Probe(context.Background(), redirect.IPv4|redirect.IPv6) }); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return
	}
	out, err := pod.CombinedOutput(context.Background(), "nft", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 0 {
		t.Fatalf("the probe left:\n%s", out)
	}
}
