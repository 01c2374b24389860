package route

import (
	"fmt"
	"sort"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// domainIndex finds a virtual host by authority in Envoy's order: exact
// names, then suffix wildcards ("*.example.com") longest first, then prefix
// wildcards ("example.*") longest first, then "*". Lookups index maps by
// substrings of the host, so they do not allocate.
type domainIndex struct {
	exact      map[string]*VirtualHost
	suffixes   map[int]map[string]*VirtualHost // by suffix length
	suffixLens []int                           // descending
	prefixes   map[int]map[string]*VirtualHost
	prefixLens []int
	star       *VirtualHost
}

// newDomainIndex returns an empty index with room for rc's exact
// domains: grown one entry at a time, a map of thousands leaves every
// smaller table it outgrew behind as garbage, and ends up to twice too
// large.
func newDomainIndex(rc *routev3.RouteConfiguration) domainIndex {
	exact := 0
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			if !strings.Contains(d, "*") {
				exact++
			}
		}
	}
	return domainIndex{exact: make(map[string]*VirtualHost, exact), suffixes: map[int]map[string]*VirtualHost{},
		prefixes: map[int]map[string]*VirtualHost{}}
}

func (d *domainIndex) add(domain string, vh *VirtualHost) error {
	dup := func() error { return fmt.Errorf("route: domain %q is used by more than one virtual host", domain) }
	switch {
	case domain == "*":
		if d.star != nil {
			return dup()
		}
		d.star = vh
	case strings.HasPrefix(domain, "*"):
		if strings.Contains(domain[1:], "*") {
			return fmt.Errorf("route: domain %q may hold one wildcard, at its start or end", domain)
		}
		return addWild(d.suffixes, &d.suffixLens, domain[1:], vh, dup)
	case strings.HasSuffix(domain, "*"):
		if strings.Contains(domain[:len(domain)-1], "*") {
			return fmt.Errorf("route: domain %q may hold one wildcard, at its start or end", domain)
		}
		return addWild(d.prefixes, &d.prefixLens, domain[:len(domain)-1], vh, dup)
	case strings.Contains(domain, "*"):
		return fmt.Errorf("route: domain %q may hold one wildcard, at its start or end", domain)
	default:
		if _, ok := d.exact[domain]; ok {
			return dup()
		}
		d.exact[domain] = vh
	}
	return nil
}

func addWild(m map[int]map[string]*VirtualHost, lens *[]int, s string, vh *VirtualHost, dup func() error) error {
	byLen := m[len(s)]
	if byLen == nil {
		byLen = map[string]*VirtualHost{}
		m[len(s)] = byLen
		*lens = append(*lens, len(s))
		sort.Sort(sort.Reverse(sort.IntSlice(*lens)))
	}
	if _, ok := byLen[s]; ok {
		return dup()
	}
	byLen[s] = vh
	return nil
}

// lookup finds the virtual host for a lowercased authority. A wildcard
// stands for at least one character.
func (d *domainIndex) lookup(host string) *VirtualHost {
	if vh, ok := d.exact[host]; ok {
		return vh
	}
	for _, n := range d.suffixLens {
		if n < len(host) {
			if vh, ok := d.suffixes[n][host[len(host)-n:]]; ok {
				return vh
			}
		}
	}
	for _, n := range d.prefixLens {
		if n < len(host) {
			if vh, ok := d.prefixes[n][host[:n]]; ok {
				return vh
			}
		}
	}
	return d.star
}
