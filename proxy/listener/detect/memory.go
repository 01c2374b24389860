package detect

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// DefaultMemory is how many server-first destinations a ServerFirst
// remembers by default: a pod talks to far fewer databases and mail
// servers than that, and 4096 entries cost about 300 KiB at most.
const DefaultMemory = 4096

// ServerFirst remembers destinations (original destination address and
// port) whose server spoke first after a detection timeout. It is bounded:
// when full, a destination not looked up since the clock hand last passed
// is forgotten first (the CLOCK approximation of least recently used).
//
// Known is on the accept path and takes no lock: it reads an immutable
// map. Remember, rare by nature (once per server-first destination),
// copies the map under a mutex.
type ServerFirst struct {
	max int

	known atomic.Pointer[map[netip.AddrPort]*memEntry]

	mu   sync.Mutex       // serialises Remember
	ring []netip.AddrPort // the clock; len ≤ max
	hand int
}

type memEntry struct {
	used atomic.Bool // looked up since the clock hand last passed
}

// NewServerFirst returns an empty memory of at most max destinations;
// max ≤ 0 means DefaultMemory.
func NewServerFirst(max int) *ServerFirst {
	if max <= 0 {
		max = DefaultMemory
	}
	s := &ServerFirst{max: max}
	empty := map[netip.AddrPort]*memEntry{}
	s.known.Store(&empty)
	return s
}

// Known reports whether dst is remembered as server-first, and marks it
// recently used.
func (s *ServerFirst) Known(dst netip.AddrPort) bool {
	if s == nil {
		return false
	}
	e := (*s.known.Load())[dst]
	if e == nil {
		return false
	}
	if !e.used.Load() { // keep the cache line shared once set
		e.used.Store(true)
	}
	return true
}

// Remember records dst as server-first, forgetting another destination
// when the memory is full.
func (s *ServerFirst) Remember(dst netip.AddrPort) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.known.Load()
	if _, ok := old[dst]; ok {
		return
	}
	next := make(map[netip.AddrPort]*memEntry, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	e := &memEntry{}
	e.used.Store(true)
	if len(s.ring) < s.max {
		s.ring = append(s.ring, dst)
	} else {
		// Second chance: clear the used bits the hand passes over and
		// evict the first entry that had none.
		for {
			victim := s.ring[s.hand]
			if ve := next[victim]; ve != nil && ve.used.Swap(false) {
				s.hand = (s.hand + 1) % len(s.ring)
				continue
			}
			delete(next, victim)
			s.ring[s.hand] = dst
			s.hand = (s.hand + 1) % len(s.ring)
			break
		}
	}
	next[dst] = e
	s.known.Store(&next)
}

// Len is the number of destinations remembered.
func (s *ServerFirst) Len() int {
	if s == nil {
		return 0
	}
	return len(*s.known.Load())
}
