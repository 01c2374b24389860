package route

import (
	"strings"
	"unsafe"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// arena allocates what a table keeps, in a few large blocks instead of
// one small object each. A sidecar's table may hold a virtual host and a
// route for each of thousands of services, and a table lives and dies
// whole, so nothing is kept alive longer than it would be anyway. Small
// objects made while a configuration loads share their memory spans with
// the decoder's garbage: once the garbage is freed the spans stay, mostly
// empty, for as long as the table lives (with 10,000 services, more
// memory than the routes themselves). Blocks are allocated whole and are
// freed whole.
type arena struct {
	routes []Route
	vhosts []VirtualHost
	ptrs   []*Route // the virtual hosts' route lists, one after another
	// strs interns the strings a table keeps (names, domains, cluster
	// names, path prefixes): a service's name is its virtual host's
	// name, its first domain and its route's cluster. Packed into chunk.
	strs  map[string]string
	chunk []byte
}

// newArena sizes the blocks for rc.
func newArena(rc *routev3.RouteConfiguration) *arena {
	nroutes := 0
	for _, vh := range rc.GetVirtualHosts() {
		nroutes += len(vh.GetRoutes())
	}
	return &arena{
		routes: make([]Route, 0, nroutes),
		vhosts: make([]VirtualHost, 0, len(rc.GetVirtualHosts())),
		ptrs:   make([]*Route, 0, nroutes),
		strs:   map[string]string{},
	}
}

// route returns a new, zero route.
func (a *arena) route() *Route {
	if len(a.routes) == cap(a.routes) {
		return new(Route) // more than counted: cannot happen, but stay correct
	}
	a.routes = a.routes[:len(a.routes)+1]
	return &a.routes[len(a.routes)-1]
}

// vhost returns a new, zero virtual host.
func (a *arena) vhost() *VirtualHost {
	if len(a.vhosts) == cap(a.vhosts) {
		return new(VirtualHost)
	}
	a.vhosts = a.vhosts[:len(a.vhosts)+1]
	return &a.vhosts[len(a.vhosts)-1]
}

// routeList returns an empty list with room for n routes, from the
// block; appending more than n moves it out.
func (a *arena) routeList(n int) []*Route {
	if len(a.ptrs)+n > cap(a.ptrs) {
		return make([]*Route, 0, n)
	}
	l := a.ptrs[len(a.ptrs) : len(a.ptrs) : len(a.ptrs)+n]
	a.ptrs = a.ptrs[:len(a.ptrs)+n]
	return l
}

// String blocks start small, so that a small table wastes little, and
// double up to maxChunk; a string longer than a quarter of that gets its
// own allocation.
const (
	minChunk = 256
	maxChunk = 16 << 10
)

// str returns a copy of s the table may keep, the same copy for equal
// strings. A decoded proto's string shares its memory span with the
// decoder's garbage: kept, it would keep that span resident.
func (a *arena) str(s string) string {
	if s == "" {
		return ""
	}
	if c, ok := a.strs[s]; ok {
		return c
	}
	var c string
	if len(s) > maxChunk/4 {
		c = strings.Clone(s)
	} else {
		if len(a.chunk)+len(s) > cap(a.chunk) {
			size := min(max(2*cap(a.chunk), minChunk), maxChunk)
			a.chunk = make([]byte, 0, max(size, len(s)))
		}
		start := len(a.chunk)
		a.chunk = append(a.chunk, s...)
		// The chunk's bytes are never written again once appended.
		c = unsafe.String(&a.chunk[start], len(s))
	}
	a.strs[c] = c
	return c
}
