// Package chain selects a listener's filter chain for a connection, with
// Envoy's FilterChainMatch semantics: criteria are considered in a fixed
// order (destination port, destination IP, server name, transport
// protocol, application protocols, direct source IP, source type, source
// IP, source port); at each step only the candidates with the most
// specific matching value survive, a candidate that leaves the criterion
// unset survives only when no candidate matches it specifically, and there
// is no backtracking: when a step leaves no candidate, nothing matches.
package chain

import (
	"net/netip"
	"slices"
	"strings"
)

// SourceType is FilterChainMatch.source_type.
type SourceType uint8

const (
	AnySource      SourceType = iota // ANY
	LocalSource                      // SAME_IP_OR_LOOPBACK
	ExternalSource                   // EXTERNAL
)

// Match is one filter chain's translated filter_chain_match. A zero or
// empty field leaves its criterion unset.
type Match struct {
	DestinationPort          uint32
	PrefixRanges             []netip.Prefix
	ServerNames              []string // exact names, or "*.suffix" wildcards
	TransportProtocol        string
	ApplicationProtocols     []string
	DirectSourcePrefixRanges []netip.Prefix
	SourceType               SourceType
	SourcePrefixRanges       []netip.Prefix
	SourcePorts              []uint32
}

// Facts are what is known about a connection when its chain is chosen.
type Facts struct {
	Local             netip.AddrPort // destination (original destination when redirected)
	Remote            netip.AddrPort // source
	Direct            netip.AddrPort // source of the socket itself
	ServerName        string
	TransportProtocol string // "raw_buffer" when no listener filter set one
	ALPN              []string
}

// Table is an immutable, ordered set of matches.
type Table struct {
	matches []Match
}

// NewTable returns a table over ms; Select returns indexes into ms.
func NewTable(ms []Match) *Table {
	t := &Table{matches: make([]Match, len(ms))}
	for i, m := range ms {
		m.ServerNames = lowerAll(m.ServerNames)
		t.matches[i] = m
	}
	return t
}

func lowerAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}

// Len is the number of matches.
func (t *Table) Len() int { return len(t.matches) }

const levels = 9

// Select returns the index of the chain for f, or -1 when none matches.
func (t *Table) Select(f *Facts) int {
	if len(t.matches) == 0 {
		return -1
	}
	var bufA, bufB [32]int32
	cand, next := bufA[:0], bufB[:0]
	for i := range t.matches {
		cand = append(cand, int32(i))
	}
	for level := 0; level < levels; level++ {
		best := -1
		next = next[:0]
		for _, i := range cand {
			s := t.matches[i].score(level, f)
			if s < 0 {
				continue
			}
			if s > best {
				best = s
				next = next[:0]
			}
			if s == best {
				next = append(next, i)
			}
		}
		if len(next) == 0 {
			return -1
		}
		cand, next = next, cand
	}
	return int(cand[0])
}

// score rates how specifically m matches f at one level: -1 no match, 0
// criterion unset, higher is more specific.
func (m *Match) score(level int, f *Facts) int {
	switch level {
	case 0:
		if m.DestinationPort == 0 {
			return 0
		}
		if uint32(f.Local.Port()) == m.DestinationPort {
			return 1
		}
		return -1
	case 1:
		return prefixScore(m.PrefixRanges, f.Local.Addr())
	case 2:
		return serverNameScore(m.ServerNames, f.ServerName)
	case 3:
		if m.TransportProtocol == "" {
			return 0
		}
		if m.TransportProtocol == f.TransportProtocol {
			return 1
		}
		return -1
	case 4:
		if len(m.ApplicationProtocols) == 0 {
			return 0
		}
		for _, p := range f.ALPN {
			if slices.Contains(m.ApplicationProtocols, p) {
				return 1
			}
		}
		return -1
	case 5:
		return prefixScore(m.DirectSourcePrefixRanges, f.Direct.Addr())
	case 6:
		switch m.SourceType {
		case AnySource:
			return 0
		case LocalSource:
			if isLocal(f) {
				return 1
			}
		case ExternalSource:
			if !isLocal(f) {
				return 1
			}
		}
		return -1
	case 7:
		return prefixScore(m.SourcePrefixRanges, f.Remote.Addr())
	default:
		if len(m.SourcePorts) == 0 {
			return 0
		}
		if slices.Contains(m.SourcePorts, uint32(f.Remote.Port())) {
			return 1
		}
		return -1
	}
}

func isLocal(f *Facts) bool {
	src := f.Remote.Addr()
	return src.IsLoopback() || src == f.Local.Addr()
}

// prefixScore prefers the longest matching prefix; a /0 still beats an
// unset criterion.
func prefixScore(ps []netip.Prefix, a netip.Addr) int {
	if len(ps) == 0 {
		return 0
	}
	best := -1
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) && p.Bits()+1 > best {
			best = p.Bits() + 1
		}
	}
	return best
}

// serverNameScore prefers an exact name, then the longest wildcard suffix
// ("*.b.example.com" over "*.example.com").
func serverNameScore(names []string, sni string) int {
	if len(names) == 0 {
		return 0
	}
	if sni == "" {
		return -1
	}
	sni = strings.ToLower(sni)
	best := -1
	for _, n := range names {
		switch {
		case n == sni:
			return 1 << 16
		case strings.HasPrefix(n, "*.") && strings.HasSuffix(sni, n[1:]) && len(sni) > len(n)-1:
			if len(n) > best {
				best = len(n)
			}
		}
	}
	return best
}

// Equal reports whether two matches select the same connections, for the
// duplicate check Envoy makes at load.
func Equal(a, b Match) bool {
	return a.DestinationPort == b.DestinationPort &&
		sameSet(a.PrefixRanges, b.PrefixRanges) &&
		sameSet(lowerAll(a.ServerNames), lowerAll(b.ServerNames)) &&
		a.TransportProtocol == b.TransportProtocol &&
		sameSet(a.ApplicationProtocols, b.ApplicationProtocols) &&
		sameSet(a.DirectSourcePrefixRanges, b.DirectSourcePrefixRanges) &&
		a.SourceType == b.SourceType &&
		sameSet(a.SourcePrefixRanges, b.SourcePrefixRanges) &&
		sameSet(a.SourcePorts, b.SourcePorts)
}

func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
