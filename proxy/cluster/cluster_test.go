package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/upstream"
)

// parseClusters decodes a YAML list of clusters.
func parseClusters(t testing.TB, y string) []*clusterv3.Cluster {
	t.Helper()
	var raw []any
	if err := yaml.Unmarshal([]byte(y), &raw); err != nil {
		t.Fatal(err)
	}
	var out []*clusterv3.Cluster
	for _, r := range raw {
		js, err := yaml.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		js, err = yaml.YAMLToJSON(js)
		if err != nil {
			t.Fatal(err)
		}
		c := &clusterv3.Cluster{}
		if err := protojson.Unmarshal(js, c); err != nil {
			t.Fatalf("decode cluster: %v\n%s", err, js)
		}
		out = append(out, c)
	}
	return out
}

func newManager(t testing.TB, y string) (*Manager, *stats.Store) {
	t.Helper()
	store := stats.NewStore()
	m := NewManager(store)
	if err := m.Update(parseClusters(t, y), "static_resources.clusters"); err != nil {
		t.Fatalf("Update: %v", err)
	}
	t.Cleanup(m.Close)
	return m, store
}

// listen returns a loopback listener that accepts and holds connections.
func listen(t testing.TB) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.(*net.TCPListener)
}

func closedPort(t testing.TB) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return ap
}

func staticCluster(name string, addrs ...string) string {
	var b strings.Builder
	b.WriteString("- name: " + name + "\n  type: STATIC\n  load_assignment:\n    cluster_name: " + name + "\n    endpoints:\n    - lb_endpoints:\n")
	for _, a := range addrs {
		ap := netip.MustParseAddrPort(a)
		b.WriteString("      - endpoint: {address: {socket_address: {address: " + ap.Addr().String() + ", port_value: " + strconv.Itoa(int(ap.Port())) + "}}}\n")
	}
	return b.String()
}

func TestStaticClusterPicksAndDialsItsEndpoint(t *testing.T) {
	ln := listen(t)
	m, store := newManager(t, staticCluster("backend", ln.Addr().String()))
	c := m.Get("backend")
	if c == nil || c.Name() != "backend" {
		t.Fatalf("Get(backend) = %v", c)
	}
	h, err := c.Pick(&LBContext{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Address().String() != ln.Addr().String() {
		t.Fatalf("picked %s, want %s", h.Address(), ln.Addr())
	}
	conn, err := c.DialTCP(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if uc, ok := conn.(*upstream.Conn); !ok || uc.RawIO() {
		t.Errorf("DialTCP gave %T; want an *upstream.Conn copying through net.TCPConn (ForBulk)", conn)
	}
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.CxTotal.Value() != 1 || st.CxActive.Value() != 1 || st.CxTxBytesTotal.Value() != 5 {
		t.Errorf("cx_total=%d cx_active=%d tx=%d, want 1 1 5", st.CxTotal.Value(), st.CxActive.Value(), st.CxTxBytesTotal.Value())
	}
	conn.Close()
	if st.CxActive.Value() != 0 || st.CxDestroy.Value() != 1 {
		t.Errorf("after close cx_active=%d destroy=%d, want 0 1", st.CxActive.Value(), st.CxDestroy.Value())
	}
	if g := store.Root().Scope("cluster", stats.Tag{Name: "envoy_cluster_name", Value: "backend"}).Gauge("membership_total"); g.Value() != 1 {
		t.Errorf("membership_total = %d, want 1", g.Value())
	}
}

func TestDialTCPToAClosedPortIsAConnectFailure(t *testing.T) {
	m, _ := newManager(t, staticCluster("dead", closedPort(t).String()))
	c := m.Get("dead")
	h, _ := c.Pick(nil)
	_, err := c.DialTCP(context.Background(), h)
	if !errors.Is(err, failure.ErrConnectFailure) {
		t.Fatalf("err = %v, want a connect failure", err)
	}
	if c.Stats().CxConnectFail.Value() != 1 {
		t.Errorf("upstream_cx_connect_fail = %d, want 1", c.Stats().CxConnectFail.Value())
	}
}

func TestDialTCPBeyondMaxConnectionsOverflows(t *testing.T) {
	ln := listen(t)
	m, _ := newManager(t, staticCluster("small", ln.Addr().String())+
		"  circuit_breakers: {thresholds: [{max_connections: 1, track_remaining: true}]}\n")
	c := m.Get("small")
	h, _ := c.Pick(nil)
	first, err := c.DialTCP(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = c.DialTCP(context.Background(), h)
	if !errors.Is(err, failure.ErrOverflow) {
		t.Fatalf("second dial err = %v, want overflow", err)
	}
	if c.Stats().CxOverflow.Value() != 1 {
		t.Errorf("upstream_cx_overflow = %d, want 1", c.Stats().CxOverflow.Value())
	}
}

func TestPickAvoidsPreviousHostsWhenAsked(t *testing.T) {
	a, b := listen(t), listen(t)
	m, _ := newManager(t, staticCluster("pair", a.Addr().String(), b.Addr().String()))
	c := m.Get("pair")
	first, _ := c.Pick(nil)
	for range 20 {
		h, err := c.Pick(&LBContext{Previous: []*Host{first}})
		if err != nil {
			t.Fatal(err)
		}
		if h == first {
			t.Fatalf("picked previous host %s again", h)
		}
	}
}

func TestUpdateKeepsAnUnchangedClusterAndReplacesAChangedOne(t *testing.T) {
	a, b := listen(t), listen(t)
	cfg := staticCluster("same", a.Addr().String()) + staticCluster("changing", a.Addr().String())
	m, _ := newManager(t, cfg)
	same, changing := m.Get("same"), m.Get("changing")
	if err := m.Update(parseClusters(t, staticCluster("same", a.Addr().String())+staticCluster("changing", b.Addr().String())), ""); err != nil {
		t.Fatal(err)
	}
	if m.Get("same") != same {
		t.Error("unchanged cluster was rebuilt")
	}
	if m.Get("changing") == changing {
		t.Error("changed cluster was kept")
	}
	if err := m.Update(parseClusters(t, staticCluster("same", a.Addr().String())), ""); err != nil {
		t.Fatal(err)
	}
	if m.Get("changing") != nil {
		t.Error("removed cluster is still there")
	}
	if got := len(m.All()); got != 1 {
		t.Errorf("All() has %d clusters, want 1", got)
	}
}

func TestStrictDNSClusterResolvesLocalhost(t *testing.T) {
	ln := listen(t)
	port := netip.MustParseAddrPort(ln.Addr().String()).Port()
	m, _ := newManager(t, `
- name: dns
  type: STRICT_DNS
  dns_lookup_family: V4_ONLY
  dns_refresh_rate: 0.1s
  load_assignment:
    cluster_name: dns
    endpoints:
    - lb_endpoints:
      - endpoint: {address: {socket_address: {address: localhost, port_value: `+strconv.Itoa(int(port))+`}}}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.WaitWarm(ctx); err != nil {
		t.Fatal(err)
	}
	c := m.Get("dns")
	h, err := c.Pick(nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Address().Addr() != netip.MustParseAddr("127.0.0.1") || h.Hostname() != "localhost" {
		t.Fatalf("resolved to %s (%s)", h.Address(), h.Hostname())
	}
	conn, err := c.DialTCP(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestLogicalDNSClusterHasOneHost(t *testing.T) {
	m, _ := newManager(t, `
- name: logical
  type: LOGICAL_DNS
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: {address: {socket_address: {address: localhost, port_value: 80}}}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.WaitWarm(ctx); err != nil {
		t.Fatal(err)
	}
	if hs := m.Get("logical").Hosts(); len(hs) != 1 {
		t.Fatalf("hosts = %v, want one", hs)
	}
}

func TestOriginalDstClusterConnectsToTheOriginalDestination(t *testing.T) {
	ln := listen(t)
	m, _ := newManager(t, `
- name: passthrough
  type: ORIGINAL_DST
  lb_policy: CLUSTER_PROVIDED
  cleanup_interval: 0.05s
`)
	c := m.Get("passthrough")
	if _, err := c.Pick(&LBContext{}); !errors.Is(err, failure.ErrNoHealthyUpstream) {
		t.Fatalf("Pick without an original destination: %v, want no healthy upstream", err)
	}
	dst := netip.MustParseAddrPort(ln.Addr().String())
	h, err := c.Pick(&LBContext{OriginalDst: dst})
	if err != nil || h.Address() != dst {
		t.Fatalf("Pick = %v, %v; want %s", h, err, dst)
	}
	conn, err := c.DialTCP(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for len(c.Hosts()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle original destination host was never cleaned up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTranslationRejectsWhatItDoesNotImplement(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{name: "a transport socket without its TLS context is refused", yaml: `
- name: tls
  type: STATIC
  transport_socket: {name: envoy.transport_sockets.tls}
  load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]}
`, want: []string{"static_resources.clusters[0].transport_socket.typed_config: tls: typed_config is required"}},
		{name: "health checks and outlier detection are not supported yet", yaml: `
- name: hc
  type: STATIC
  health_checks: [{timeout: 1s, interval: 1s, tcp_health_check: {}}]
  outlier_detection: {}
  load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]}
`, want: []string{
			"static_resources.clusters[0].health_checks: cluster: health_checks is not supported yet",
			"static_resources.clusters[0].outlier_detection: cluster: outlier_detection is not supported yet"}},
		{name: "original dst needs cluster provided", yaml: `
- name: od
  type: ORIGINAL_DST
`, want: []string{"static_resources.clusters[0].lb_policy: cluster: ORIGINAL_DST clusters need lb_policy CLUSTER_PROVIDED"}},
		{name: "static endpoints must be IP addresses", yaml: `
- name: s
  type: STATIC
  load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: example.org, port_value: 1}}}}]}]}
`, want: []string{`static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: cluster: STATIC endpoint "example.org" is not an IP address`}},
		{name: "ring hash and high priority thresholds are unsupported", yaml: `
- name: r
  type: STATIC
  lb_policy: RING_HASH
  circuit_breakers: {thresholds: [{priority: HIGH, max_connections: 1}]}
  load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]}
`, want: []string{
			"static_resources.clusters[0].lb_policy: cluster: lb_policy RING_HASH is not supported",
			"static_resources.clusters[0].circuit_breakers.thresholds[0].priority: cluster: only DEFAULT priority thresholds are supported"}},
		{name: "unknown protocol options and http3 are unsupported", yaml: `
- name: p
  type: STATIC
  typed_extension_protocol_options:
    envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
      "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
      common_http_protocol_options: {max_stream_duration: 1s}
      explicit_http_config: {http2_protocol_options: {max_concurrent_streams: 10}}
  load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]}
`, want: []string{
			`static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].common_http_protocol_options.max_stream_duration: cluster: max_stream_duration is not supported`,
			`static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_protocol_options.max_concurrent_streams: cluster: max_concurrent_streams is not supported`}},
		{name: "header formatters other than preserve_case are unsupported", yaml: `
- name: f
  type: STATIC
  typed_extension_protocol_options:
    envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
      "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
      use_downstream_protocol_config:
        http_protocol_options:
          header_key_format: {proper_case_words: {}}
          accept_http_10: true
  load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]}
`, want: []string{
			`static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].use_downstream_protocol_config.http_protocol_options.header_key_format.proper_case_words: cluster: proper_case_words is not supported`,
			`static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].use_downstream_protocol_config.http_protocol_options.accept_http_10: cluster: accept_http_10 is not supported`}},
		{name: "duplicate names are rejected", yaml: staticCluster("twice", "127.0.0.1:1") + staticCluster("twice", "127.0.0.1:2"),
			want: []string{`static_resources.clusters[1].name: cluster: duplicate cluster name "twice"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewManager(stats.NewStore())
			err := m.Update(parseClusters(t, tt.yaml), "static_resources.clusters")
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want config.Errors", err)
			}
			got := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("errors lack %q; got:\n%s", w, got)
				}
			}
			if len(m.All()) != 0 {
				t.Error("a failed Update changed the cluster set")
			}
		})
	}
}

func TestAdminClustersPageListsHostsAndThresholds(t *testing.T) {
	ln := listen(t)
	m, _ := newManager(t, staticCluster("backend", ln.Addr().String())+
		"  circuit_breakers: {thresholds: [{max_retries: 5}]}\n")
	c := m.Get("backend")
	h, _ := c.Pick(nil)
	conn, err := c.DialTCP(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var text strings.Builder
	m.WriteClusters(&text, false)
	for _, want := range []string{
		"backend::default_priority::max_retries::5\n",
		"backend::default_priority::max_connections::1024\n",
		"backend::" + ln.Addr().String() + "::cx_active::1\n",
		"backend::" + ln.Addr().String() + "::cx_total::1\n",
		"backend::" + ln.Addr().String() + "::health_flags::healthy\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text page lacks %q:\n%s", want, text.String())
		}
	}
	var js strings.Builder
	m.WriteClusters(&js, true)
	var doc struct {
		ClusterStatuses []struct {
			Name         string
			HostStatuses []struct {
				Address struct {
					SocketAddress struct {
						PortValue int `json:"port_value"`
					} `json:"socket_address"`
				}
			} `json:"host_statuses"`
		} `json:"cluster_statuses"`
	}
	if err := json.Unmarshal([]byte(js.String()), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.ClusterStatuses) != 1 || doc.ClusterStatuses[0].HostStatuses[0].Address.SocketAddress.PortValue != int(netip.MustParseAddrPort(ln.Addr().String()).Port()) {
		t.Errorf("JSON page: %s", js.String())
	}
}

func TestTranslationAcceptsTheSupportedSubset(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		check func(t *testing.T, s *settings)
	}{
		{name: "least request with a choice count", extra: "lb_policy: LEAST_REQUEST\n  least_request_lb_config: {choice_count: 3}",
			check: func(t *testing.T, s *settings) {
				if s.lb.Policy != 1 || s.lb.ChoiceCount != 3 {
					t.Errorf("lb %+v", s.lb)
				}
			}},
		{name: "random", extra: "lb_policy: RANDOM", check: func(t *testing.T, s *settings) {
			if s.lb.Policy.String() != "RANDOM" {
				t.Errorf("lb %v", s.lb.Policy)
			}
		}},
		{name: "thresholds default to Envoy's", check: func(t *testing.T, s *settings) {
			if s.thresholds != (thresholds{1024, 1024, 1024, 3, false}) {
				t.Errorf("thresholds %+v", s.thresholds)
			}
			if s.connectTimeout != 5*time.Second || s.http.IdleTimeout != time.Hour {
				t.Errorf("connect_timeout %v idle %v", s.connectTimeout, s.http.IdleTimeout)
			}
		}},
		{name: "http protocol options", extra: `typed_extension_protocol_options:
    envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
      "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
      common_http_protocol_options: {idle_timeout: 0s, max_requests_per_connection: 7}
      explicit_http_config: {http2_protocol_options: {}}`, check: func(t *testing.T, s *settings) {
			if s.http.Protocol != 2 || s.http.IdleTimeout != 0 || s.http.MaxRequestsPerConn != 7 {
				t.Errorf("http options %+v", s.http)
			}
		}},
		{name: "preserve_case on HTTP/1.1", extra: preserveCaseUnder("explicit_http_config"),
			check: func(t *testing.T, s *settings) {
				if !s.http.PreserveCase || s.http.Protocol != 1 {
					t.Errorf("http options %+v, want HTTP/1.1 preserving case", s.http)
				}
			}},
		{name: "preserve_case under auto_config, for when ALPN chooses HTTP/1.1", extra: preserveCaseUnder("auto_config"),
			check: func(t *testing.T, s *settings) {
				if !s.http.PreserveCase || s.http.Protocol != upstream.Auto {
					t.Errorf("http options %+v, want auto preserving case", s.http)
				}
			}},
		{name: "bind config and endpoint weights", extra: "upstream_bind_config: {source_address: {address: 127.0.0.6, port_value: 0}}",
			check: func(t *testing.T, s *settings) {
				if s.source.Addr().String() != "127.0.0.6" {
					t.Errorf("source %v", s.source)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := staticCluster("c", "127.0.0.1:80")
			if tt.extra != "" {
				y += "  " + tt.extra + "\n"
			}
			pbs := parseClusters(t, y)
			var errs config.Errors
			s := translate(pbs[0], "c", &errs)
			if err := errs.Err(); err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

// preserveCaseUnder is a cluster's HttpProtocolOptions asking for the
// preserve_case header formatter under protocol selection sel
// (explicit_http_config or auto_config).
func preserveCaseUnder(sel string) string {
	return `typed_extension_protocol_options:
    envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
      "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
      ` + sel + `:
        http_protocol_options:
          header_key_format:
            stateful_formatter:
              name: preserve_case
              typed_config: {"@type": type.googleapis.com/envoy.extensions.http.header_formatters.preserve_case.v3.PreserveCaseFormatterConfig}`
}
