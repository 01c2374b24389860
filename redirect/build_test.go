package redirect

import (
	"net/netip"
	"testing"
)

// conn is the first packet of a TCP connection as the NAT hooks see it.
type conn struct {
	hook     ChainID // Output for connections the pod opens, Prerouting for those it receives
	oif      string  // output interface; "lo" for local destinations
	src, dst string
	dport    uint16
	uid, gid uint32
}

// evaluate runs the ruleset on c the way netfilter does and returns the port
// the connection is redirected to, or 0 when it is left alone.
func evaluate(t *testing.T, rs Ruleset, c conn) uint16 {
	t.Helper()
	src, dst := netip.MustParseAddr(c.src), netip.MustParseAddr(c.dst)
	fam := familyOf(dst)
	if !rs.Families.Has(fam) {
		return 0
	}
	var run func(id ChainID, depth int) (port uint16, done bool)
	run = func(id ChainID, depth int) (uint16, bool) {
		if depth > 8 {
			t.Fatalf("jump loop at chain %d", id)
		}
		for _, r := range rs.Rules(id, fam) {
			if !matches(r, c, src, dst) {
				continue
			}
			switch r.Verdict.Kind {
			case Return:
				return 0, false
			case Redirect:
				return r.Verdict.Port, true
			case Jump:
				if port, done := run(r.Verdict.Chain, depth+1); done {
					return port, true
				}
			}
		}
		return 0, false
	}
	port, _ := run(c.hook, 0)
	return port
}

func matches(r Rule, c conn, src, dst netip.Addr) bool {
	if r.OutIface != "" && r.OutIface != c.oif {
		return false
	}
	if r.Src.IsValid() && !r.Src.Contains(src) {
		return false
	}
	if r.Dst.IsValid() && r.Dst.Contains(dst) == r.NotDst {
		return false
	}
	if r.DstPort != 0 && r.DstPort != c.dport {
		return false
	}
	switch r.Owner.Kind {
	case UID:
		return (c.uid == r.Owner.ID) != r.Owner.Not
	case GID:
		return (c.gid == r.Owner.ID) != r.Owner.Not
	}
	return true
}

const (
	app   = 1000
	proxy = 1337
)

// Connections of a pod whose IPs are 10.0.0.5 and fd00::5.
var (
	appOut       = conn{hook: Output, oif: "eth0", src: "10.0.0.5", dst: "10.1.2.3", dport: 80, uid: app, gid: app}
	appOut6      = conn{hook: Output, oif: "eth0", src: "fd00::5", dst: "2001:db8::1", dport: 443, uid: app, gid: app}
	inbound      = conn{hook: Prerouting, oif: "", src: "10.9.9.9", dst: "10.0.0.5", dport: 8080}
	inbound6     = conn{hook: Prerouting, oif: "", src: "fd00::9", dst: "fd00::5", dport: 8080}
	appToSelf    = conn{hook: Output, oif: "lo", src: "10.0.0.5", dst: "10.0.0.5", dport: 8080, uid: app, gid: app}
	proxyToSelf  = conn{hook: Output, oif: "lo", src: "10.0.0.5", dst: "10.0.0.5", dport: 8080, uid: proxy, gid: proxy}
	proxyToApp   = conn{hook: Output, oif: "lo", src: "127.0.0.6", dst: "10.0.0.5", dport: 8080, uid: proxy, gid: proxy}
	proxyToApp6  = conn{hook: Output, oif: "lo", src: "::6", dst: "fd00::5", dport: 8080, uid: proxy, gid: proxy}
	appToLocal   = conn{hook: Output, oif: "lo", src: "127.0.0.1", dst: "127.0.0.1", dport: 8080, uid: app, gid: app}
	proxyToLocal = conn{hook: Output, oif: "lo", src: "127.0.0.1", dst: "127.0.0.1", dport: 8080, uid: proxy, gid: proxy}
)

func with(c conn, edit func(*conn)) conn { edit(&c); return c }

func TestBuildCapturesWhatIstioCaptures(t *testing.T) {
	ipv6 := func(c *Config) { c.IPv6 = true }
	for _, tc := range []struct {
		name   string
		config func(*Config)
		conn   conn
		want   uint16
	}{
		{name: "an app's outbound connection goes to the outbound port", conn: appOut, want: 15001},
		{name: "an app's IPv6 outbound connection goes to the outbound port", config: ipv6, conn: appOut6, want: 15001},
		{name: "IPv6 is left alone when IPv6 is off", conn: appOut6, want: 0},
		{name: "the proxy's own connections are left alone", conn: with(appOut, func(c *conn) { c.uid, c.gid = proxy, proxy }), want: 0},
		{name: "a process with only the proxy's GID is left alone", conn: with(appOut, func(c *conn) { c.uid, c.gid = 0, proxy }), want: 0},
		{name: "an app's connection to 127.0.0.1 is left alone", conn: appToLocal, want: 0},
		{name: "an app's connection to its own pod IP is left alone", conn: appToSelf, want: 0},
		{name: "the proxy calling its own pod IP is treated as inbound", conn: proxyToSelf, want: 15006},
		{name: "a proxy-only GID calling its own pod IP is treated as inbound", conn: with(proxyToSelf, func(c *conn) { c.uid = 0 }), want: 15006},
		{name: "the proxy calling its own pod IP on an excluded inbound port goes direct", conn: with(proxyToSelf, func(c *conn) { c.dport = 15021 }), want: 0},
		{name: "the proxy calling 127.0.0.1 goes direct", conn: proxyToLocal, want: 0},
		{name: "the proxy reaching the app from 127.0.0.6 goes direct", conn: proxyToApp, want: 0},
		{name: "the proxy reaching the app from ::6 goes direct", config: ipv6, conn: proxyToApp6, want: 0},
		{name: "an inbound connection goes to the inbound port", conn: inbound, want: 15006},
		{name: "an IPv6 inbound connection goes to the inbound port", config: ipv6, conn: inbound6, want: 15006},
		{name: "the proxy's health port is never captured", conn: with(inbound, func(c *conn) { c.dport = 15021 }), want: 0},
		{name: "the proxy's admin port is never captured", conn: with(inbound, func(c *conn) { c.dport = 15000 }), want: 0},
		{name: "the Prometheus port is never captured", conn: with(inbound, func(c *conn) { c.dport = 15090 }), want: 0},
		{name: "the agent port is never captured", conn: with(inbound, func(c *conn) { c.dport = 15020 }), want: 0},
		{
			name:   "an excluded inbound port is not captured",
			config: func(c *Config) { c.ExcludeInboundPorts = []uint16{8080} },
			conn:   inbound, want: 0,
		},
		{
			name:   "only listed inbound ports are captured",
			config: func(c *Config) { c.InboundPorts = PortSet{Ports: []uint16{9090}} },
			conn:   inbound, want: 0,
		},
		{
			name:   "a listed inbound port is captured",
			config: func(c *Config) { c.InboundPorts = PortSet{Ports: []uint16{8080}} },
			conn:   inbound, want: 15006,
		},
		{
			name:   "an excluded port wins over a listed inbound port",
			config: func(c *Config) { c.InboundPorts = PortSet{Ports: []uint16{15021}} },
			conn:   with(inbound, func(c *conn) { c.dport = 15021 }), want: 0,
		},
		{
			name:   "with inbound capture off the proxy calls its own pod IP directly",
			config: func(c *Config) { c.InboundPorts = PortSet{} },
			conn:   proxyToSelf, want: 0,
		},
		{
			name:   "with inbound capture off nothing inbound is captured",
			config: func(c *Config) { c.InboundPorts = PortSet{} },
			conn:   inbound, want: 0,
		},
		{
			name:   "an excluded outbound port bypasses the proxy",
			config: func(c *Config) { c.ExcludeOutboundPorts = []uint16{80} },
			conn:   appOut, want: 0,
		},
		{
			name:   "an excluded outbound CIDR bypasses the proxy",
			config: func(c *Config) { c.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")} },
			conn:   appOut, want: 0,
		},
		{
			name: "an excluded outbound CIDR wins over an included port",
			config: func(c *Config) {
				c.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
				c.OutboundPorts = PortSet{Ports: []uint16{80}}
			},
			conn: appOut, want: 0,
		},
		{
			name: "a destination outside the outbound CIDRs is left alone",
			config: func(c *Config) {
				c.OutboundCIDRs = CIDRSet{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}}
			},
			conn: appOut, want: 0,
		},
		{
			name: "a destination inside the outbound CIDRs is captured",
			config: func(c *Config) {
				c.OutboundCIDRs = CIDRSet{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
			},
			conn: appOut, want: 15001,
		},
		{
			name: "an outbound port is captured whatever the destination",
			config: func(c *Config) {
				c.OutboundCIDRs = CIDRSet{}
				c.OutboundPorts = PortSet{Ports: []uint16{80}}
			},
			conn: appOut, want: 15001,
		},
		{
			name: "other ports are left alone when only outbound ports capture",
			config: func(c *Config) {
				c.OutboundCIDRs = CIDRSet{}
				c.OutboundPorts = PortSet{Ports: []uint16{443}}
			},
			conn: appOut, want: 0,
		},
		{
			name: "custom capture ports and proxy UID are honoured",
			config: func(c *Config) {
				c.OutboundPort, c.InboundPort, c.ProxyUID, c.ProxyGID = 16001, 16006, 2000, 2000
			},
			conn: with(appOut, func(c *conn) { c.uid, c.gid = proxy, proxy }), want: 16001,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			if tc.config != nil {
				tc.config(&c)
			}
			rs, err := Build(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := evaluate(t, rs, tc.conn); got != tc.want {
				t.Fatalf("redirected to %d, want %d (0: left alone)", got, tc.want)
			}
		})
	}
}

func TestBuildIsPureAndOrdersHooksFirst(t *testing.T) {
	c := DefaultConfig()
	c.IPv6 = true
	a, _ := Build(c)
	b, _ := Build(c)
	if len(a.Chains) != len(b.Chains) || a.Len() != b.Len() {
		t.Fatal("two builds of one config differ")
	}
	want := []ChainID{Prerouting, Output, Inbound, InboundRedirect, Outbound, OutboundRedirect}
	for i, ch := range a.Chains {
		if ch.ID != want[i] {
			t.Fatalf("chain %d is %d, want %d", i, ch.ID, want[i])
		}
	}
}
