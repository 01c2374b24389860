package listener

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/outrider-mesh/outrider/internal/looptest"
	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// dialer is an upstream that dials a fixed address.
type dialer string

func (d dialer) Pick(*cluster.LBContext) (*cluster.Host, error) { return nil, nil }
func (d dialer) DialTCP(ctx context.Context, _ *cluster.Host) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", string(d))
}

// backends maps cluster names to loopback servers.
type backends map[string]string

func newManager(t testing.TB, bs backends) (*Manager, *stats.Store) {
	t.Helper()
	store := stats.NewStore()
	m := NewManager(&Env{
		Stats:     store,
		DrainTime: 100 * time.Millisecond,
		LookupCluster: func(name string) network.Upstream {
			if a, ok := bs[name]; ok {
				return dialer(a)
			}
			return nil
		},
	})
	t.Cleanup(func() { m.Close() })
	return m, store
}

// serve runs fn for every connection to a new loopback server.
func serve(t *testing.T, fn func(c net.Conn)) string {
	t.Helper()
	return looptest.Serve(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fn(c)
	})
}

// echo copies every byte back.
func echo(c net.Conn) { io.Copy(c, c) }

// says writes its name and then echoes what it receives.
func says(name string) func(net.Conn) {
	return func(c net.Conn) { c.Write([]byte(name)); io.Copy(c, c) }
}

func anyOf(t testing.TB, m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func sockAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

func tcpChain(t testing.TB, cluster string, idle time.Duration) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
		Name: "envoy.filters.network.tcp_proxy",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: anyOf(t, &tcpproxyv3.TcpProxy{
			StatPrefix:       cluster,
			ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
			IdleTimeout:      durationpb.New(idle),
		})},
	}}}
}

func lfilter(t testing.TB, kind string) *listenerv3.ListenerFilter {
	var m proto.Message
	switch kind {
	case "tls":
		m = &tlsinspectorv3.TlsInspector{}
	case "http":
		m = &httpinspectorv3.HttpInspector{}
	case "original_dst":
		m = &originaldstv3.OriginalDst{}
	}
	return &listenerv3.ListenerFilter{Name: kind, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: anyOf(t, m)}}
}

// tcpListener is a listener on 127.0.0.1:0 proxying to cluster.
func tcpListener(t testing.TB, name, cluster string) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:         name,
		Address:      sockAddr("127.0.0.1", 0),
		FilterChains: []*listenerv3.FilterChain{tcpChain(t, cluster, time.Hour)},
	}
}

func apply(t *testing.T, m *Manager, ls ...*listenerv3.Listener) {
	t.Helper()
	if err := m.Apply(ls, "static_resources.listeners"); err != nil {
		t.Fatal(err)
	}
}

func addr(t *testing.T, m *Manager, name string) string {
	t.Helper()
	a, ok := m.Addr(name)
	if !ok {
		t.Fatalf("no listener %q", name)
	}
	return a.String()
}

// roundTrip connects, writes msg, half-closes and returns all it reads.
func roundTrip(t *testing.T, address, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	return string(b), err
}

func counter(store *stats.Store, name string) uint64 {
	var v uint64
	store.Each(func(c *stats.Counter) {
		if c.Name == name {
			v = c.Value()
		}
	}, nil, nil)
	return v
}
