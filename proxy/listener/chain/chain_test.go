package chain

import (
	"net/netip"
	"testing"
)

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

func TestSelectFollowsEnvoysMatchingOrder(t *testing.T) {
	conn := func(dst, src string) Facts {
		return Facts{
			Local:             netip.MustParseAddrPort(dst),
			Remote:            netip.MustParseAddrPort(src),
			Direct:            netip.MustParseAddrPort(src),
			TransportProtocol: "raw_buffer",
		}
	}
	withSNI := func(f Facts, sni string, alpn ...string) Facts {
		f.ServerName, f.TransportProtocol, f.ALPN = sni, "tls", alpn
		return f
	}
	tests := []struct {
		name    string
		matches []Match
		facts   Facts
		want    int
	}{
		{
			name:    "a chain without criteria matches anything",
			matches: []Match{{}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    0,
		},
		{
			name:    "an exact destination port beats an unset one",
			matches: []Match{{}, {DestinationPort: 80}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    1,
		},
		{
			name:    "an unset destination port is the fallback when no port matches",
			matches: []Match{{DestinationPort: 443}, {}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    1,
		},
		{
			name:    "the longest destination prefix wins",
			matches: []Match{{PrefixRanges: pfx("10.0.0.0/8")}, {PrefixRanges: pfx("10.0.0.0/24")}, {}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    1,
		},
		{
			name:    "a /0 prefix beats an unset prefix",
			matches: []Match{{}, {PrefixRanges: pfx("0.0.0.0/0")}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    1,
		},
		{
			name:    "destination port is decided before server name, without backtracking",
			matches: []Match{{DestinationPort: 80, ServerNames: []string{"a.example.com"}}, {ServerNames: []string{"b.example.com"}}},
			facts:   withSNI(conn("10.0.0.1:80", "10.0.0.2:1234"), "b.example.com"),
			want:    -1,
		},
		{
			name: "an exact server name beats a wildcard, which beats a shorter wildcard",
			matches: []Match{
				{ServerNames: []string{"*.com"}},
				{ServerNames: []string{"*.example.com"}},
				{ServerNames: []string{"www.example.com"}},
			},
			facts: withSNI(conn("10.0.0.1:443", "10.0.0.2:1234"), "www.example.com"),
			want:  2,
		},
		{
			name:    "the longer wildcard wins when no exact name matches",
			matches: []Match{{ServerNames: []string{"*.com"}}, {ServerNames: []string{"*.example.com"}}},
			facts:   withSNI(conn("10.0.0.1:443", "10.0.0.2:1234"), "api.example.com"),
			want:    1,
		},
		{
			name:    "server names compare case-insensitively",
			matches: []Match{{ServerNames: []string{"WWW.Example.com"}}},
			facts:   withSNI(conn("10.0.0.1:443", "10.0.0.2:1234"), "www.example.COM"),
			want:    0,
		},
		{
			name:    "a wildcard does not match the bare domain",
			matches: []Match{{ServerNames: []string{"*.example.com"}}},
			facts:   withSNI(conn("10.0.0.1:443", "10.0.0.2:1234"), "example.com"),
			want:    -1,
		},
		{
			name:    "transport protocol tls selects the tls chain",
			matches: []Match{{TransportProtocol: "raw_buffer"}, {TransportProtocol: "tls"}},
			facts:   withSNI(conn("10.0.0.1:443", "10.0.0.2:1234"), "x"),
			want:    1,
		},
		{
			name:    "plain text selects the raw_buffer chain",
			matches: []Match{{TransportProtocol: "tls"}, {TransportProtocol: "raw_buffer"}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    1,
		},
		{
			name:    "any listed application protocol matches",
			matches: []Match{{}, {ApplicationProtocols: []string{"http/1.1", "h2c"}}},
			facts:   Facts{Local: netip.MustParseAddrPort("10.0.0.1:80"), ALPN: []string{"h2c"}},
			want:    1,
		},
		{
			name:    "source type local matches loopback peers",
			matches: []Match{{SourceType: ExternalSource}, {SourceType: LocalSource}},
			facts:   conn("127.0.0.1:80", "127.0.0.1:1234"),
			want:    1,
		},
		{
			name:    "source type external matches other peers",
			matches: []Match{{SourceType: LocalSource}, {SourceType: ExternalSource}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    1,
		},
		{
			name:    "source prefix is decided after source type",
			matches: []Match{{SourceType: ExternalSource}, {SourcePrefixRanges: pfx("10.0.0.0/24")}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    0,
		},
		{
			name:    "the longest source prefix wins",
			matches: []Match{{SourcePrefixRanges: pfx("10.0.0.0/8")}, {SourcePrefixRanges: pfx("10.0.0.2/32")}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    1,
		},
		{
			name:    "direct source prefix is decided before source type",
			matches: []Match{{SourceType: ExternalSource}, {DirectSourcePrefixRanges: pfx("10.0.0.0/8")}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    1,
		},
		{
			name:    "source port is the last criterion",
			matches: []Match{{SourcePorts: []uint32{1}}, {SourcePorts: []uint32{1234}}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    1,
		},
		{
			name:    "nothing matches when every chain asks for something else",
			matches: []Match{{DestinationPort: 443}, {PrefixRanges: pfx("192.168.0.0/16")}},
			facts:   conn("10.0.0.1:80", "10.0.0.2:1234"),
			want:    -1,
		},
		{
			name:    "IPv4-mapped IPv6 peers match IPv4 prefixes",
			matches: []Match{{SourcePrefixRanges: pfx("10.0.0.0/8")}},
			facts:   conn("[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.2]:1234"),
			want:    0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewTable(tt.matches).Select(&tt.facts)
			if got != tt.want {
				t.Errorf("Select = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEqualTreatsListsAsSets(t *testing.T) {
	a := Match{ServerNames: []string{"a", "B"}, SourcePorts: []uint32{1, 2}}
	b := Match{ServerNames: []string{"b", "a"}, SourcePorts: []uint32{2, 1}}
	if !Equal(a, b) {
		t.Error("Equal = false for the same sets in another order")
	}
	if Equal(a, Match{}) {
		t.Error("Equal = true for different matches")
	}
}

func BenchmarkSelect(b *testing.B) {
	tbl := NewTable([]Match{
		{DestinationPort: 443, TransportProtocol: "tls"},
		{DestinationPort: 80, ApplicationProtocols: []string{"http/1.1", "h2c"}},
		{PrefixRanges: pfx("10.0.0.0/8")},
		{},
	})
	f := Facts{Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.MustParseAddrPort("10.0.0.2:1234"),
		TransportProtocol: "raw_buffer", ALPN: []string{"http/1.1"}}
	b.ReportAllocs()
	for b.Loop() {
		if tbl.Select(&f) != 1 {
			b.Fatal("wrong chain")
		}
	}
}
