package redirect

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParsePortSetReadsWildcardsListsAndNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    PortSet
		wantErr string
	}{
		{name: "star means every port", in: "*", want: PortSet{All: true}},
		{name: "empty means no port", in: "", want: PortSet{}},
		{name: "a list keeps its order and drops duplicates", in: "443, 80,443", want: PortSet{Ports: []uint16{443, 80}}},
		{name: "port zero is refused", in: "0", wantErr: `"0" is not a port`},
		{name: "a port above 65535 is refused", in: "65536", wantErr: `"65536" is not a port`},
		{name: "every bad entry is reported", in: "x,80,y", wantErr: `"x" is not a port (1-65535)` + "\n" + `"y" is not a port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePortSet(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.All != tc.want.All || !slices.Equal(got.Ports, tc.want.Ports) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseCIDRSetReadsPrefixesAndHosts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    CIDRSet
		wantErr string
	}{
		{name: "star means everything", in: "*", want: CIDRSet{All: true}},
		{name: "empty means nothing", in: " ", want: CIDRSet{}},
		{name: "prefixes are masked", in: "10.1.2.3/8,fd00::1/8", want: CIDRSet{Prefixes: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}},
		{name: "a bare address is one host", in: "192.0.2.1,2001:db8::1", want: CIDRSet{Prefixes: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::1/128")}}},
		{name: "duplicates are dropped", in: "10.0.0.0/8,10.0.0.1/8", want: CIDRSet{Prefixes: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8")}}},
		{name: "garbage is refused", in: "10.0.0.0/33,nope", wantErr: `"10.0.0.0/33" is not an IPv4 or IPv6 CIDR` + "\n" + `"nope"`},
		{name: "IPv4-mapped IPv6 is refused", in: "::ffff:10.0.0.1", wantErr: "is not an IPv4 or IPv6 CIDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCIDRSet(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.All != tc.want.All || !slices.Equal(got.Prefixes, tc.want.Prefixes) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.InboundPort = c.OutboundPort
	c.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("fd00::/8")}
	c.OutboundCIDRs = CIDRSet{Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"redirect: ",
		"outbound and inbound ports must differ (both 15001)",
		"excluded outbound CIDRs: fd00::/8 is IPv6 but IPv6 is off",
		"outbound CIDRs: 2001:db8::/32 is IPv6 but IPv6 is off",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("the default config is invalid: %v", err)
	}
}

func TestBuildRefusesAConfigThatCapturesNothing(t *testing.T) {
	c := DefaultConfig()
	c.InboundPorts = PortSet{}
	c.OutboundCIDRs = CIDRSet{}
	if _, err := Build(c); err == nil || !strings.Contains(err.Error(), "nothing to capture") {
		t.Fatalf("got %v, want a nothing-to-capture error", err)
	}
}
