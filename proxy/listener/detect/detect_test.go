package detect

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
)

func portRange(start, end int32) *listenerv3.ListenerFilterChainMatchPredicate {
	return &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_DestinationPortRange{
		DestinationPortRange: &typev3.Int32Range{Start: start, End: end}}}
}

func or(rules ...*listenerv3.ListenerFilterChainMatchPredicate) *listenerv3.ListenerFilterChainMatchPredicate {
	return &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_OrMatch{
		OrMatch: &listenerv3.ListenerFilterChainMatchPredicate_MatchSet{Rules: rules}}}
}

func and(rules ...*listenerv3.ListenerFilterChainMatchPredicate) *listenerv3.ListenerFilterChainMatchPredicate {
	return &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_AndMatch{
		AndMatch: &listenerv3.ListenerFilterChainMatchPredicate_MatchSet{Rules: rules}}}
}

func not(r *listenerv3.ListenerFilterChainMatchPredicate) *listenerv3.ListenerFilterChainMatchPredicate {
	return &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_NotMatch{NotMatch: r}}
}

func anyMatch(v bool) *listenerv3.ListenerFilterChainMatchPredicate {
	return &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_AnyMatch{AnyMatch: v}}
}

func TestFilterDisabledPredicatesBecomePortSets(t *testing.T) {
	tests := []struct {
		name     string
		pred     *listenerv3.ListenerFilterChainMatchPredicate
		in, out  []uint16
		wantErrs []string
	}{
		{name: "no predicate disables nothing", pred: nil, out: []uint16{0, 25, 65535}},
		{name: "a range holds its start and not its end", pred: portRange(25, 27), in: []uint16{25, 26}, out: []uint16{24, 27}},
		{name: "or_match unites its rules", pred: or(portRange(25, 26), portRange(3306, 3307)), in: []uint16{25, 3306}, out: []uint16{26, 3305}},
		{name: "and_match intersects its rules", pred: and(portRange(10, 20), portRange(15, 30)), in: []uint16{15, 19}, out: []uint16{14, 20}},
		{name: "not_match complements its rule", pred: not(portRange(80, 81)), in: []uint16{0, 79, 81, 65535}, out: []uint16{80}},
		{name: "any_match disables every port", pred: anyMatch(true), in: []uint16{0, 1, 65535}},
		{name: "the whole port range is accepted", pred: portRange(0, 65536), in: []uint16{0, 65535}},
		{name: "an empty range is rejected", pred: portRange(30, 30),
			wantErrs: []string{"f.destination_port_range: listener: port range [30, 30) is empty"}},
		{name: "a range past 65535 is rejected", pred: portRange(1, 70000),
			wantErrs: []string{"f.destination_port_range: listener: port range [1, 70000)"}},
		{name: "any_match false is rejected", pred: anyMatch(false), wantErrs: []string{"f.any_match: listener: any_match must be true"}},
		{name: "a set of one rule is rejected, and nested errors keep their paths", pred: or(not(portRange(5, 5))),
			wantErrs: []string{"f.or_match.rules: listener: at least two rules", "f.or_match.rules[0].not_match.destination_port_range: listener: port range [5, 5)"}},
		{name: "a predicate without a rule is rejected", pred: &listenerv3.ListenerFilterChainMatchPredicate{},
			wantErrs: []string{"f: listener: a rule is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs config.Errors
			got := TranslateDisabled(tt.pred, "f", &errs)
			for _, want := range tt.wantErrs {
				if !strings.Contains(errs.Error(), want) {
					t.Errorf("errors %q do not mention %q", errs.Error(), want)
				}
			}
			if len(tt.wantErrs) == 0 && len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			for _, p := range tt.in {
				if !got.Has(p) {
					t.Errorf("port %d is not disabled", p)
				}
			}
			for _, p := range tt.out {
				if got.Has(p) {
					t.Errorf("port %d is disabled", p)
				}
			}
		})
	}
}

func TestPortsOfHoldsExactlyItsPorts(t *testing.T) {
	s := PortsOf(25, 587, 65535)
	for _, p := range []uint16{25, 587, 65535} {
		if !s.Has(p) {
			t.Errorf("missing %d", p)
		}
	}
	for _, p := range []uint16{0, 24, 26, 588} {
		if s.Has(p) {
			t.Errorf("has %d", p)
		}
	}
	if !PortsOf().Empty() || (Ports{}).Has(25) {
		t.Error("the empty set is not empty")
	}
}

func dst(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port)
}

func TestServerFirstRemembersUpToItsBound(t *testing.T) {
	m := NewServerFirst(3)
	for p := uint16(1); p <= 3; p++ {
		m.Remember(dst(p))
	}
	m.Remember(dst(2)) // again: no change
	if m.Len() != 3 {
		t.Fatalf("len %d, want 3", m.Len())
	}
	for p := uint16(1); p <= 3; p++ {
		if !m.Known(dst(p)) {
			t.Errorf("forgot %d", p)
		}
	}
	if m.Known(dst(4)) {
		t.Error("knows a destination never remembered")
	}
}

func TestServerFirstForgetsADestinationNotLookedUpFirst(t *testing.T) {
	m := NewServerFirst(3)
	for p := uint16(1); p <= 3; p++ {
		m.Remember(dst(p))
	}
	// A full pass of the hand clears every used bit and evicts 1; then
	// only 3 is looked up, so 2 is the next one without a second chance.
	m.Remember(dst(4))
	if m.Known(dst(1)) {
		t.Fatal("1 should have been forgotten first")
	}
	m.Known(dst(3))
	m.Remember(dst(5))
	if m.Known(dst(2)) {
		t.Error("2, not looked up, should have been forgotten")
	}
	for _, p := range []uint16{3, 4, 5} {
		if !m.Known(dst(p)) {
			t.Errorf("forgot %d", p)
		}
	}
	if m.Len() != 3 {
		t.Errorf("len %d, want 3", m.Len())
	}
}

func TestANilServerFirstKnowsNothing(t *testing.T) {
	var m *ServerFirst
	m.Remember(dst(1))
	if m.Known(dst(1)) || m.Len() != 0 {
		t.Fatal("a nil memory remembered")
	}
}

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (proxySide, peer net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	proxySide, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxySide.Close(); peer.Close() })
	proxySide.SetDeadline(time.Now().Add(10 * time.Second))
	peer.SetDeadline(time.Now().Add(10 * time.Second))
	return proxySide, peer
}

func TestWatchLearnsOnlyWhenTheServerSpeaksFirst(t *testing.T) {
	tests := []struct {
		name  string
		run   func(t *testing.T, w, client net.Conn)
		learn bool
	}{
		{name: "bytes to the client before any from it mean server-first", learn: true,
			run: func(t *testing.T, w, client net.Conn) {
				w.Write([]byte("220 ready\r\n"))
				w.Write([]byte("more"))
			}},
		{name: "bytes from the client first mean client-first", learn: false,
			run: func(t *testing.T, w, client net.Conn) {
				client.Write([]byte("x"))
				b := make([]byte, 1)
				if _, err := w.Read(b); err != nil {
					t.Fatal(err)
				}
				w.Write([]byte("reply"))
			}},
		{name: "an empty write is not speaking", learn: false,
			run: func(t *testing.T, w, client net.Conn) {
				w.Write(nil)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxySide, client := pair(t)
			var learned atomic.Int32
			w := Watch(proxySide, func() { learned.Add(1) })
			tt.run(t, w, client)
			if got := learned.Load(); (got == 1) != tt.learn || got > 1 {
				t.Fatalf("learned %d times, want learn=%v", got, tt.learn)
			}
		})
	}
}

func TestWatchDoesNotLearnFromBytesAfterTheWindow(t *testing.T) {
	proxySide, _ := pair(t)
	learned := false
	w := &watched{Conn: proxySide, learn: func() { learned = true }, until: time.Now().Add(-time.Second)}
	w.Write([]byte("408 Request Timeout"))
	if learned {
		t.Fatal("a late answer was taken for a server-first banner")
	}
}

func TestWatchForwardsHalfClose(t *testing.T) {
	proxySide, client := pair(t)
	w := Watch(proxySide, func() {})
	w.Write([]byte("bye"))
	if err := w.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "bye" {
		t.Fatalf("got %q, %v; want the bytes then EOF", got, err)
	}
	// The other direction still works.
	client.Write([]byte("ok"))
	b := make([]byte, 2)
	if _, err := io.ReadFull(w, b); err != nil || string(b) != "ok" {
		t.Fatalf("got %q, %v", b, err)
	}
}

func TestWatchHidesSpliceSoTheFirstBytesAreSeen(t *testing.T) {
	proxySide, _ := pair(t)
	w := Watch(proxySide, func() {})
	if _, ok := w.(io.ReaderFrom); ok {
		t.Error("the watch is an io.ReaderFrom: io.Copy would splice past it")
	}
	if _, ok := w.(io.WriterTo); ok {
		t.Error("the watch is an io.WriterTo")
	}
}
