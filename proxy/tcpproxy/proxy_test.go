package tcpproxy

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/outrider-mesh/outrider/internal/looptest"
	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/listener/network/networktest"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// fakeUpstream dials a fixed address, or fails with err.
type fakeUpstream struct {
	addr string
	err  error
	mu   sync.Mutex
	n    int
}

func (f *fakeUpstream) Pick(*cluster.LBContext) (*cluster.Host, error) { return nil, nil }

func (f *fakeUpstream) DialTCP(ctx context.Context, _ *cluster.Host) (net.Conn, error) {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", f.addr)
}

// recorder is an access logger keeping every entry.
type recorder struct {
	mu    sync.Mutex
	infos []*streaminfo.Info
	done  chan struct{}
}

func (r *recorder) Log(info *streaminfo.Info) {
	r.mu.Lock()
	r.infos = append(r.infos, info)
	r.mu.Unlock()
	r.done <- struct{}{}
}

// harness runs px behind a loopback listener and returns its address.
func harness(t *testing.T, px *Proxy) string {
	t.Helper()
	return networktest.Serve(t, px)
}

// backend runs serve for every connection on a loopback listener.
func backend(t *testing.T, serve func(c *net.TCPConn)) string {
	t.Helper()
	return looptest.Serve(t, func(c net.Conn) { serve(c.(*net.TCPConn)) })
}

func newProxy(t *testing.T, pb *tcpproxyv3.TcpProxy, env *network.Env) *Proxy {
	t.Helper()
	if env.Stats == nil {
		env.Stats = stats.NewStore()
	}
	px, err := Translate(pb, env, "filters[0].typed_config")
	if err != nil {
		t.Fatal(err)
	}
	return px
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func TestHalfCloseFromDownstreamReachesUpstreamWhichStillAnswers(t *testing.T) {
	up := backend(t, func(c *net.TCPConn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		got, _ := io.ReadAll(c) // until the client's FIN
		c.Write(append([]byte("reply:"), got...))
	})
	px := newProxy(t, &tcpproxyv3.TcpProxy{StatPrefix: "t", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "b"}},
		&network.Env{LookupCluster: func(string) network.Upstream { return &fakeUpstream{addr: up} }})
	c := dial(t, harness(t, px))
	c.Write([]byte("hello"))
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "reply:hello" {
		t.Fatalf("got %q, %v; want reply:hello", got, err)
	}
}

func TestHalfCloseFromUpstreamReachesDownstreamWhichStillSends(t *testing.T) {
	late := make(chan string, 1)
	up := backend(t, func(c *net.TCPConn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("banner"))
		c.CloseWrite()
		got, _ := io.ReadAll(c)
		late <- string(got)
	})
	px := newProxy(t, &tcpproxyv3.TcpProxy{StatPrefix: "t", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "b"}},
		&network.Env{LookupCluster: func(string) network.Upstream { return &fakeUpstream{addr: up} }})
	c := dial(t, harness(t, px))
	got, err := io.ReadAll(c) // EOF arrives while our write side is open
	if err != nil || string(got) != "banner" {
		t.Fatalf("got %q, %v; want banner", got, err)
	}
	c.Write([]byte("late"))
	c.CloseWrite()
	if s := <-late; s != "late" {
		t.Fatalf("upstream got %q after its FIN, want late", s)
	}
}

func TestProxyReachesARealStaticCluster(t *testing.T) {
	up := backend(t, func(c *net.TCPConn) { io.Copy(c, c) })
	ap := netip.MustParseAddrPort(up)
	store := stats.NewStore()
	cm := cluster.NewManager(store)
	t.Cleanup(cm.Close)
	err := cm.Update([]*clusterv3.Cluster{{
		Name:                 "echo",
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: "echo", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: ap.Addr().String(), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(ap.Port())}}}},
			}}}},
		}}},
	}}, "clusters")
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, &tcpproxyv3.TcpProxy{StatPrefix: "echo", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "echo"}},
		&network.Env{Clusters: cm, Stats: store})
	c := dial(t, harness(t, px))
	c.Write([]byte("ping"))
	c.CloseWrite()
	got, _ := io.ReadAll(c)
	if string(got) != "ping" {
		t.Fatalf("got %q, want ping", got)
	}
	if n := px.st.rxBytes.Value(); n != 4 {
		t.Errorf("downstream_cx_rx_bytes_total = %d, want 4", n)
	}
}

func TestIdleConnectionIsClosedAfterIdleTimeout(t *testing.T) {
	up := backend(t, func(c *net.TCPConn) { io.Copy(io.Discard, c) })
	px := newProxy(t, &tcpproxyv3.TcpProxy{StatPrefix: "idle", IdleTimeout: durationpb.New(50 * time.Millisecond),
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "b"}},
		&network.Env{LookupCluster: func(string) network.Upstream { return &fakeUpstream{addr: up} }})
	c := dial(t, harness(t, px))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("read: %v (want EOF from the proxy closing)", err)
	}
	// ServeConn counts after closing; wait for it through the gauge.
	for px.st.active.Value() != 0 {
		time.Sleep(time.Millisecond)
	}
	if n := px.st.idleTimeout.Value(); n != 1 {
		t.Errorf("idle_timeout = %d, want 1", n)
	}
}

func TestFailuresAreLoggedWithEnvoysFlags(t *testing.T) {
	tests := []struct {
		name     string
		upstream network.Upstream
		want     failure.Flags
	}{
		{name: "a connect failure is UF", upstream: &fakeUpstream{err: failure.ErrConnectFailure.With(io.EOF)}, want: failure.UpstreamConnectionFailure},
		{name: "an overflow is UO", upstream: &fakeUpstream{err: failure.ErrOverflow}, want: failure.UpstreamOverflow},
		{name: "a missing cluster is NC", upstream: nil, want: failure.NoClusterFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{done: make(chan struct{}, 1)}
			env := &network.Env{
				LookupCluster: func(string) network.Upstream { return tt.upstream },
				AccessLogs: func([]*accesslogv3.AccessLog, config.Path) (network.AccessLogger, error) {
					return rec, nil
				},
			}
			px := newProxy(t, &tcpproxyv3.TcpProxy{StatPrefix: "f", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "b"},
				AccessLog: []*accesslogv3.AccessLog{{Name: "x"}}}, env)
			c := dial(t, harness(t, px))
			io.ReadAll(c)
			<-rec.done
			if got := rec.infos[0].Flags; got != tt.want {
				t.Errorf("flags = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMaxConnectAttemptsRetriesConnectFailures(t *testing.T) {
	f := &fakeUpstream{err: failure.ErrConnectFailure}
	px := newProxy(t, &tcpproxyv3.TcpProxy{StatPrefix: "r", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "b"},
		MaxConnectAttempts: wrapU32(3)}, &network.Env{LookupCluster: func(string) network.Upstream { return f }})
	c := dial(t, harness(t, px))
	io.ReadAll(c)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n != 3 {
		t.Errorf("dialled %d times, want 3", f.n)
	}
}

func TestWeightedClustersSplitConnectionsByWeight(t *testing.T) {
	px := newProxy(t, &tcpproxyv3.TcpProxy{StatPrefix: "w", ClusterSpecifier: &tcpproxyv3.TcpProxy_WeightedClusters{
		WeightedClusters: &tcpproxyv3.TcpProxy_WeightedCluster{Clusters: []*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{
			{Name: "a", Weight: 1}, {Name: "b", Weight: 3}}}}}, &network.Env{})
	counts := map[string]int{}
	for i := 0; i < 4000; i++ {
		counts[px.pickCluster()]++
	}
	if a := counts["a"]; a < 800 || a > 1200 {
		t.Errorf("a got %d of 4000, want about 1000", a)
	}
}

func TestTranslateRejectsWhatItDoesNotImplement(t *testing.T) {
	_, err := Translate(&tcpproxyv3.TcpProxy{StatPrefix: "x", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "b"},
		HashPolicy: []*typev3HashPolicy{{}}}, &network.Env{}, "p")
	if err == nil || err.Error() != "p.hash_policy: not supported" {
		t.Fatalf("err = %v", err)
	}
}
