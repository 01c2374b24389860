package listener

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Detection tests: a transparent listener (original_dst + http_inspector,
// continue_on_listener_filters_timeout) whose HTTP chain goes to a backend
// that says "http" and whose default chain is TCP. Which backend answers
// tells which chain the connection got. Where a case says "at once", the
// detection timeout is far longer than the client's read deadline, so
// waiting for it would fail the test rather than slow it.

const (
	long        = time.Hour              // a detection timeout no test waits for
	readTimeout = 10 * time.Second       // a client's whole exchange
	short       = 300 * time.Millisecond // a detection timeout tests do wait for
)

// detectBackends: "http" speaks first; "tcp" answers "tcp" to the first
// bytes it receives; "banner" greets like an SMTP server.
func detectBackends(t *testing.T) backends {
	return backends{
		"http": serve(t, says("http")),
		"tcp": serve(t, func(c net.Conn) {
			b := make([]byte, 1)
			if _, err := c.Read(b); err == nil {
				c.Write([]byte("tcp"))
			}
			io.Copy(io.Discard, c)
		}),
		"banner": serve(t, says("220 ready")),
	}
}

// detectListener builds the listener; disabled ports skip http_inspector.
func detectListener(t *testing.T, timeout time.Duration, tcpCluster string, disabled ...uint16) *listenerv3.Listener {
	httpInspector := lfilter(t, "http")
	if len(disabled) > 0 {
		var rules []*listenerv3.ListenerFilterChainMatchPredicate
		for _, p := range disabled {
			rules = append(rules, &listenerv3.ListenerFilterChainMatchPredicate{
				Rule: &listenerv3.ListenerFilterChainMatchPredicate_DestinationPortRange{
					DestinationPortRange: &typev3.Int32Range{Start: int32(p), End: int32(p) + 1}}})
		}
		// or_match needs two rules; one more port nobody uses keeps the
		// predicate's shape the same as the sidecar's.
		rules = append(rules, &listenerv3.ListenerFilterChainMatchPredicate{
			Rule: &listenerv3.ListenerFilterChainMatchPredicate_DestinationPortRange{
				DestinationPortRange: &typev3.Int32Range{Start: 1, End: 2}}})
		httpInspector.FilterDisabled = &listenerv3.ListenerFilterChainMatchPredicate{
			Rule: &listenerv3.ListenerFilterChainMatchPredicate_OrMatch{
				OrMatch: &listenerv3.ListenerFilterChainMatchPredicate_MatchSet{Rules: rules}}}
	}
	httpChain := tcpChain(t, "http", time.Hour)
	httpChain.FilterChainMatch = &listenerv3.FilterChainMatch{ApplicationProtocols: []string{"http/1.1", "http/1.0", "h2c"}}
	return &listenerv3.Listener{
		Name:                             "detect",
		StatPrefix:                       "detect",
		Address:                          sockAddr("127.0.0.1", 0),
		ListenerFilters:                  []*listenerv3.ListenerFilter{lfilter(t, "original_dst"), httpInspector},
		ListenerFiltersTimeout:           durationpb.New(timeout),
		ContinueOnListenerFiltersTimeout: true,
		FilterChains:                     []*listenerv3.FilterChain{httpChain},
		DefaultFilterChain:               tcpChain(t, tcpCluster, time.Hour),
	}
}

// exchange dials, runs client and returns the first n bytes the proxy
// sends back.
func exchange(t *testing.T, address string, client func(c net.Conn), n int) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(readTimeout))
	if client != nil {
		client(c)
	}
	b := make([]byte, n)
	got, err := io.ReadFull(c, b)
	if err != nil {
		t.Fatalf("read after %q: %v", b[:got], err)
	}
	return string(b)
}

func sends(s string) func(net.Conn) {
	return func(c net.Conn) { c.Write([]byte(s)) }
}

// clientHello returns the first flight of a real TLS client.
func clientHello(t *testing.T) string {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: "example.com", InsecureSkipVerify: true}).Handshake()
	buf := make([]byte, 4096)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestDetectionSendsEachProtocolToItsChain(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		client  func(net.Conn)
		want    string
	}{
		{name: "an HTTP/1.1 request goes to the HTTP chain", timeout: long,
			client: sends("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), want: "http"},
		{name: "an HTTP/1.0 request goes to the HTTP chain", timeout: long,
			client: sends("GET / HTTP/1.0\r\n\r\n"), want: "http"},
		{name: "the h2c preface goes to the HTTP chain", timeout: long,
			client: sends("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), want: "http"},
		{name: "a TLS ClientHello goes to the TCP chain at once", timeout: long,
			client: sends(clientHello(t)), want: "tcp"},
		{name: "garbage goes to the TCP chain at once", timeout: long,
			client: sends("\x00\x01\x02binary protocol\r\n"), want: "tcp"},
		{name: "a request line that is not HTTP goes to the TCP chain at once", timeout: long,
			client: sends("HELO mail.example.com\r\n"), want: "tcp"},
		{name: "an HTTP client whose first bytes come after 200ms is still detected within 500ms", timeout: 500 * time.Millisecond,
			client: func(c net.Conn) {
				time.Sleep(200 * time.Millisecond)
				c.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
			}, want: "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, store := newManager(t, detectBackends(t))
			apply(t, m, detectListener(t, tt.timeout, "tcp"))
			if got := exchange(t, addr(t, m, "detect"), tt.client, len(tt.want)); got != tt.want {
				t.Fatalf("answered by %q, want %q", got, tt.want)
			}
			if n := counter(store, "listener.detect.http_inspector.fallback_tcp"); n != 0 {
				t.Errorf("fallback_tcp = %d, want 0", n)
			}
		})
	}
}

func TestAClientThatSendsNothingContinuesAsTCPAfterTheTimeout(t *testing.T) {
	m, store := newManager(t, detectBackends(t))
	apply(t, m, detectListener(t, short, "tcp"))
	got := exchange(t, addr(t, m, "detect"), func(c net.Conn) {
		waitCounter(t, store, "listener.detect.http_inspector.fallback_tcp", 1)
		c.Write([]byte("late bytes"))
	}, 3)
	if got != "tcp" {
		t.Fatalf("answered by %q, want the TCP chain", got)
	}
	if n := counter(store, "listener.detect.http_inspector.server_first_learned"); n != 0 {
		t.Errorf("a client-first destination was learned as server-first (%d)", n)
	}
}

func TestAServerFirstBannerOnADisabledPortArrivesAtOnce(t *testing.T) {
	m, store := newManager(t, detectBackends(t))
	apply(t, m, detectListener(t, long, "banner"))
	port := mustPort(t, addr(t, m, "detect"))
	apply(t, m, detectListener(t, long, "banner", port)) // same socket, detection off on its port
	if got := exchange(t, addr(t, m, "detect"), nil, 9); got != "220 ready" {
		t.Fatalf("got %q, want the banner", got)
	}
	if n := counter(store, "listener.detect.http_inspector.port_skipped"); n != 1 {
		t.Errorf("port_skipped = %d, want 1", n)
	}
}

func TestAServerFirstDestinationIsLearnedAfterOneTimeoutAndSkipsDetectionLater(t *testing.T) {
	m, store := newManager(t, detectBackends(t))
	apply(t, m, detectListener(t, short, "banner"))
	target := addr(t, m, "detect")

	// First connection: the banner comes after the detection timeout.
	if got := exchange(t, target, nil, 9); got != "220 ready" {
		t.Fatalf("first connection got %q, want the banner", got)
	}
	if n := counter(store, "listener.detect.http_inspector.fallback_tcp"); n != 1 {
		t.Errorf("fallback_tcp = %d, want 1", n)
	}
	waitCounter(t, store, "listener.detect.http_inspector.server_first_learned", 1)

	// The memory outlives a reload to a timeout no client waits for.
	apply(t, m, detectListener(t, long, "banner"))
	if got := exchange(t, target, nil, 9); got != "220 ready" {
		t.Fatalf("second connection got %q, want the banner at once", got)
	}
	if n := counter(store, "listener.detect.http_inspector.server_first_skipped"); n != 1 {
		t.Errorf("server_first_skipped = %d, want 1", n)
	}
}

func TestFilterDisabledIsRejectedWithItsPathWhenMalformed(t *testing.T) {
	m, _ := newManager(t, detectBackends(t))
	l := detectListener(t, long, "tcp", 25)
	l.ListenerFilters[1].FilterDisabled.GetOrMatch().Rules[0].GetDestinationPortRange().End = 10
	err := m.Apply([]*listenerv3.Listener{l}, "static_resources.listeners")
	want := "static_resources.listeners[0].listener_filters[1].filter_disabled.or_match.rules[0].destination_port_range"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error at %s", err, want)
	}
}

func mustPort(t *testing.T, address string) uint16 {
	t.Helper()
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port()
}

// waitCounter waits until the named counter reaches want; it fails the
// test after readTimeout.
func waitCounter(t *testing.T, store *stats.Store, name string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(readTimeout)
	for counter(store, name) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", name, counter(store, name), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
