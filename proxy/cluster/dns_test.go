package cluster

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// What the test DNS server does with a name it has no address for.
const (
	nxdomain = iota // answers "no such name"
	servfail        // answers "server failure"
	mute            // never answers
)

// dnsServer is a real DNS server on loopback UDP: it answers A queries
// for the names it has an address for, and the others as their mode says.
// Its resolver is Go's own (PreferGo) pointed at it.
type dnsServer struct {
	conn  net.PacketConn
	mu    sync.Mutex
	addrs map[string]netip.Addr // fully qualified, lower case
	modes map[string]int
}

// startDNS serves until the test ends and makes it the clusters'
// resolver.
func startDNS(t *testing.T) *dnsServer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{conn: conn, addrs: map[string]netip.Addr{}, modes: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve()
	}()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", conn.LocalAddr().String())
	}}
	saved := resolver
	resolver = r
	t.Cleanup(func() {
		resolver = saved
		conn.Close()
		<-done
	})
	return s
}

func fqdn(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) + "." }

// set gives name an address; from then on it resolves.
func (s *dnsServer) set(name string, a netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs[fqdn(name)] = a
}

// fail makes name fail the way mode says.
func (s *dnsServer) fail(name string, mode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.addrs, fqdn(name))
	s.modes[fqdn(name)] = mode
}

func (s *dnsServer) serve() {
	buf := make([]byte, 512)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		if reply := s.answer(buf[:n]); reply != nil {
			s.conn.WriteTo(reply, from)
		}
	}
}

func (s *dnsServer) answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.ToLower(q.Name.String())
	s.mu.Lock()
	a, found := s.addrs[name]
	mode := s.modes[name]
	s.mu.Unlock()
	if !found && mode == mute {
		return nil
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	if !found {
		rh.RCode = dnsmessage.RCodeNameError
		if mode == servfail {
			rh.RCode = dnsmessage.RCodeServerFailure
		}
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	if found && q.Type == dnsmessage.TypeA && a.Is4() {
		b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1},
			dnsmessage.AResource{A: a.As4()})
	}
	// An AAAA query for a name with an IPv4 address gets no answer and
	// no error: the name exists.
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}
