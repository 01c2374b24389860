package listener

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/outrider-mesh/outrider/proxy/config"
)

func TestTCPListenerProxiesToItsCluster(t *testing.T) {
	m, store := newManager(t, backends{"echo": serve(t, echo)})
	apply(t, m, tcpListener(t, "in", "echo"))
	got, err := roundTrip(t, addr(t, m, "in"), "hello")
	if err != nil || got != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}
	a, _ := m.Addr("in")
	name := "listener." + strings.ReplaceAll(a.String(), ":", "_") + ".downstream_cx_total"
	if n := counter(store, name); n != 1 {
		t.Errorf("%s = %d, want 1", name, n)
	}
}

func TestReloadKeepsTheSocketAndRefusesNoConnection(t *testing.T) {
	m, _ := newManager(t, backends{"a": serve(t, says("a")), "b": serve(t, says("b"))})
	apply(t, m, tcpListener(t, "in", "a"))
	target := addr(t, m, "in")

	var (
		stop     atomic.Bool
		failures atomic.Int64
		seen     sync.Map
		wg       sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				got, err := roundTrip(t, target, "")
				if err != nil || (got != "a" && got != "b") {
					failures.Add(1)
					t.Logf("round trip: %q, %v", got, err)
					continue
				}
				seen.Store(got, true)
			}
		}()
	}
	for i := 0; i < 20; i++ {
		cluster := []string{"a", "b"}[i%2]
		apply(t, m, tcpListener(t, "in", cluster))
		if got := addr(t, m, "in"); got != target {
			t.Fatalf("reload %d moved the listener from %s to %s", i, target, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d connections failed during reloads", n)
	}
	if _, ok := seen.Load("b"); !ok {
		t.Error("no connection reached the new config")
	}
}

func TestReloadDrainsConnectionsOfTheOldConfig(t *testing.T) {
	m, _ := newManager(t, backends{"a": serve(t, echo), "b": serve(t, echo)})
	apply(t, m, tcpListener(t, "in", "a"))
	c, err := net.Dial("tcp", addr(t, m, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("x"))
	io.ReadFull(c, make([]byte, 1))
	apply(t, m, tcpListener(t, "in", "b"))
	// tcp_proxy closes old connections after the drain time (100ms here).
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("read: %v, want EOF after the drain time", err)
	}
}

func TestUnchangedReloadDoesNotDrain(t *testing.T) {
	m, _ := newManager(t, backends{"a": serve(t, echo)})
	apply(t, m, tcpListener(t, "in", "a"))
	c, err := net.Dial("tcp", addr(t, m, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	apply(t, m, tcpListener(t, "in", "a"))
	time.Sleep(300 * time.Millisecond) // beyond the drain time
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("still"))
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "still" {
		t.Fatalf("got %q, %v: the connection should have been left alone", b, err)
	}
}

func TestRemovedListenerStopsAccepting(t *testing.T) {
	m, _ := newManager(t, backends{"a": serve(t, echo)})
	apply(t, m, tcpListener(t, "in", "a"), tcpListener(t, "other", "a"))
	target := addr(t, m, "in")
	apply(t, m, tcpListener(t, "other", "a"))
	if _, ok := m.Addr("in"); ok {
		t.Fatal("removed listener still listed")
	}
	if _, err := net.DialTimeout("tcp", target, time.Second); err == nil {
		t.Fatal("dial succeeded on a removed listener")
	}
}

func TestStartDrainKeepsAcceptingAndClosesTCPAfterTheDrainTime(t *testing.T) {
	m, _ := newManager(t, backends{"a": serve(t, echo)})
	apply(t, m, tcpListener(t, "in", "a"))
	old, err := net.Dial("tcp", addr(t, m, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	old.SetDeadline(time.Now().Add(10 * time.Second))
	old.Write([]byte("x"))
	io.ReadFull(old, make([]byte, 1))
	m.StartDrain(false)
	if got, err := roundTrip(t, addr(t, m, "in"), "new"); err != nil || got != "new" {
		t.Fatalf("a connection during the drain got %q, %v", got, err)
	}
	if _, err := io.ReadAll(old); err != nil {
		t.Fatalf("read: %v, want EOF after the drain time", err)
	}
}

func TestStopListeningInboundOnlyLeavesOutboundListening(t *testing.T) {
	m, _ := newManager(t, backends{"a": serve(t, echo)})
	in := tcpListener(t, "in", "a")
	in.TrafficDirection = 1 // INBOUND
	out := tcpListener(t, "out", "a")
	out.TrafficDirection = 2 // OUTBOUND
	apply(t, m, in, out)
	inAddr := addr(t, m, "in")
	m.StopListening(true)
	if _, err := net.DialTimeout("tcp", inAddr, time.Second); err == nil {
		t.Error("inbound listener still accepts")
	}
	if got, err := roundTrip(t, addr(t, m, "out"), "o"); err != nil || got != "o" {
		t.Errorf("outbound listener: %q, %v", got, err)
	}
}

func TestListenerFiltersTimeout(t *testing.T) {
	tests := []struct {
		name      string
		continue_ bool
		want      string
	}{
		{name: "closes the connection by default", continue_: false, want: ""},
		{name: "goes on to the filter chain when asked to", continue_: true, want: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, store := newManager(t, backends{"a": serve(t, says("a"))})
			l := tcpListener(t, "in", "a")
			l.ListenerFilters = []*listenerv3.ListenerFilter{lfilter(t, "tls")}
			l.ListenerFiltersTimeout = durationpb.New(50 * time.Millisecond)
			l.ContinueOnListenerFiltersTimeout = tt.continue_
			apply(t, m, l)
			c, err := net.Dial("tcp", addr(t, m, "in"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			// Send nothing: a server-first protocol.
			b := make([]byte, 1)
			n, _ := io.ReadFull(c, b)
			if got := string(b[:n]); got != tt.want {
				t.Fatalf("read %q, want %q", got, tt.want)
			}
			a, _ := m.Addr("in")
			name := "listener." + strings.ReplaceAll(a.String(), ":", "_") + ".downstream_pre_cx_timeout"
			if n := counter(store, name); n != 1 {
				t.Errorf("%s = %d, want 1", name, n)
			}
		})
	}
}

func TestHTTPInspectorPicksTheChainAndBytesAreReplayed(t *testing.T) {
	m, _ := newManager(t, backends{"h1": serve(t, says("h1:")), "h2": serve(t, says("h2:")), "raw": serve(t, says("raw:"))})
	h1 := tcpChain(t, "h1", time.Hour)
	h1.FilterChainMatch = &listenerv3.FilterChainMatch{ApplicationProtocols: []string{"http/1.1", "http/1.0"}}
	h2 := tcpChain(t, "h2", time.Hour)
	h2.FilterChainMatch = &listenerv3.FilterChainMatch{ApplicationProtocols: []string{"h2c"}}
	l := &listenerv3.Listener{
		Name:               "in",
		Address:            sockAddr("127.0.0.1", 0),
		ListenerFilters:    []*listenerv3.ListenerFilter{lfilter(t, "tls"), lfilter(t, "http")},
		FilterChains:       []*listenerv3.FilterChain{h1, h2},
		DefaultFilterChain: tcpChain(t, "raw", time.Hour),
	}
	apply(t, m, l)
	tests := []struct{ name, send, want string }{
		{name: "an HTTP/1.1 request goes to the http/1.1 chain", send: "GET / HTTP/1.1\r\n\r\n", want: "h1:GET / HTTP/1.1\r\n\r\n"},
		{name: "the h2c preface goes to the h2c chain", send: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", want: "h2:PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{name: "other bytes go to the default chain", send: "\x00\x01binary", want: "raw:\x00\x01binary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := roundTrip(t, addr(t, m, "in"), tt.send)
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestConnectionMatchingNoChainIsClosedAndCounted(t *testing.T) {
	m, store := newManager(t, backends{"a": serve(t, echo)})
	l := tcpListener(t, "in", "a")
	l.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(1)}
	apply(t, m, l)
	got, _ := roundTrip(t, addr(t, m, "in"), "x")
	if got != "" {
		t.Fatalf("got %q from a connection that matched no chain", got)
	}
	a, _ := m.Addr("in")
	name := "listener." + strings.ReplaceAll(a.String(), ":", "_") + ".no_filter_chain_match"
	for i := 0; counter(store, name) != 1; i++ {
		if i > 1000 {
			t.Fatalf("%s never reached 1", name)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestApplyReportsEveryErrorWithItsPathAndChangesNothing(t *testing.T) {
	m, _ := newManager(t, backends{"a": serve(t, echo)})
	apply(t, m, tcpListener(t, "keep", "a"))
	bad := tcpListener(t, "", "a")
	bad.Transparent = wrapperspb.Bool(true)
	bad.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{"a*b"}}
	dup := tcpListener(t, "keep", "a")
	err := m.Apply([]*listenerv3.Listener{bad, dup}, "static_resources.listeners")
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want config.Errors", err)
	}
	want := []string{
		"static_resources.listeners[0].transparent: not supported",
		"static_resources.listeners[0].name: listener: a name is required",
		"static_resources.listeners[0].filter_chains[0].filter_chain_match.server_names[0]: listener: \"a*b\" is not a server name or a *.suffix wildcard",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing error %q in:\n%v", w, err)
		}
	}
	if got := m.DumpText(); !strings.HasPrefix(got, "keep::127.0.0.1:") {
		t.Errorf("listeners changed after a failed Apply: %q", got)
	}
}

func TestDumpListsListenersByName(t *testing.T) {
	m, _ := newManager(t, backends{})
	apply(t, m, tcpListener(t, "b", "x"), tcpListener(t, "a", "x"))
	lines := strings.Split(strings.TrimSpace(m.DumpText()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "a::127.0.0.1:") || !strings.HasPrefix(lines[1], "b::127.0.0.1:") {
		t.Fatalf("DumpText = %q", lines)
	}
	js, err := m.DumpJSON()
	if err != nil || !strings.Contains(string(js), `"listener_statuses"`) || !strings.Contains(string(js), `"port_value"`) {
		t.Fatalf("DumpJSON = %s, %v", js, err)
	}
}

func TestCloseEndsEveryConnection(t *testing.T) {
	m, _ := newManager(t, backends{"a": serve(t, echo)})
	apply(t, m, tcpListener(t, "in", "a"))
	c, err := net.Dial("tcp", addr(t, m, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("x"))
	io.ReadFull(c, make([]byte, 1))
	if n := m.ActiveConnections(); n != 1 {
		t.Errorf("ActiveConnections = %d, want 1", n)
	}
	m.Close()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("read after Close: %v", err)
	}
	if n := m.ActiveConnections(); n != 0 {
		t.Errorf("ActiveConnections after Close = %d", n)
	}
}
