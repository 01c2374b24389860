package router

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/httpfilter"
	"github.com/outrider-mesh/outrider/proxy/route"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// proxy is the router behind a tiny stand-in for the connection manager:
// it matches the route, fills the stream info and hands over.
type proxy struct {
	t        testing.TB
	store    *stats.Store
	clusters *cluster.Manager
	table    *route.Table
	router   *Router
	url      string // front server, HTTP/1.1 and h2c
	addr     string

	mu      sync.Mutex
	streams []stream
	// wrap, if set, changes each request before the router sees it.
	wrap func(*http.Request) *http.Request
}

type stream struct {
	info *streaminfo.Info
	done chan struct{} // closed when the router has returned
}

// newProxy builds clusters and routes from YAML and serves the router on a
// loopback front that speaks HTTP/1.1 and prior-knowledge h2c.
func newProxy(t testing.TB, clustersYAML, routesYAML string) *proxy {
	t.Helper()
	p := &proxy{t: t, store: stats.NewStore()}
	p.clusters = cluster.NewManager(p.store)
	t.Cleanup(p.clusters.Close)
	if err := p.clusters.Update(decodeClusters(t, clustersYAML), "clusters"); err != nil {
		t.Fatalf("clusters: %v", err)
	}
	rc := &routev3.RouteConfiguration{}
	decodeYAML(t, routesYAML, rc)
	tb, err := route.Translate(rc, func(name string) bool { return p.clusters.Get(name) != nil }, "route_config")
	if err != nil {
		t.Fatalf("routes: %v", err)
	}
	p.table = tb
	filter, err := Factory(nil, &httpfilter.Env{Clusters: p.clusters}, "router")
	if err != nil {
		t.Fatal(err)
	}
	h := filter(nil)
	p.router = h.(*Router)
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &streaminfo.Info{Start: time.Now(), Request: r, Protocol: r.Proto}
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			info.DownstreamRemote, info.DownstreamDirect = ap, ap
		}
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			info.Upgrade = "websocket"
		}
		if rt := p.table.Match(r); rt != nil {
			info.Route, info.RouteName = rt, rt.Name()
		}
		done := make(chan struct{})
		p.mu.Lock()
		p.streams = append(p.streams, stream{info: info, done: done})
		p.mu.Unlock()
		defer close(done)
		r = r.WithContext(streaminfo.With(r.Context(), info))
		if p.wrap != nil {
			r = p.wrap(r)
		}
		h.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(h2c.NewHandler(front, &http2.Server{}))
	srv.Start()
	t.Cleanup(srv.Close)
	p.url, p.addr = srv.URL, srv.Listener.Addr().String()
	return p
}

// lastInfo is the stream info of the latest request, once the router is
// done with it.
func (p *proxy) lastInfo() *streaminfo.Info {
	p.mu.Lock()
	if len(p.streams) == 0 {
		p.mu.Unlock()
		p.t.Fatal("no request reached the router")
	}
	last := p.streams[len(p.streams)-1]
	p.mu.Unlock()
	select {
	case <-last.done:
	case <-time.After(10 * time.Second):
		p.t.Fatal("the request is still in the router after 10s")
	}
	return last.info
}

func (p *proxy) counter(clusterName, name string) uint64 {
	return stats.ClusterScope(p.store, clusterName).Counter(name).Value()
}

// h1Client and h2Client speak to the front.
func h1Client(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func decodeYAML(t testing.TB, y string, m proto.Message) {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(js, m); err != nil {
		t.Fatalf("decode: %v\n%s", err, js)
	}
}

func decodeClusters(t testing.TB, y string) []*clusterv3.Cluster {
	t.Helper()
	var raw []any
	if err := yaml.Unmarshal([]byte(y), &raw); err != nil {
		t.Fatal(err)
	}
	var out []*clusterv3.Cluster
	for _, r := range raw {
		b, _ := yaml.Marshal(r)
		c := &clusterv3.Cluster{}
		decodeYAML(t, string(b), c)
		out = append(out, c)
	}
	return out
}

// staticCluster is the YAML of a STATIC cluster; h2 selects HTTP/2, extra
// is appended as more cluster fields.
func staticCluster(name string, h2 bool, extra string, addrs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- name: %s\n  type: STATIC\n  connect_timeout: 1s\n", name)
	if h2 {
		b.WriteString(`  typed_extension_protocol_options:
    envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
      "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
      explicit_http_config: {http2_protocol_options: {}}
`)
	}
	for _, line := range strings.Split(strings.TrimSpace(extra), "\n") {
		if line != "" {
			b.WriteString("  " + line + "\n")
		}
	}
	b.WriteString("  load_assignment:\n    endpoints:\n    - lb_endpoints:\n")
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		fmt.Fprintf(&b, "      - endpoint: {address: {socket_address: {address: %q, port_value: %s}}}\n", host, port)
	}
	return b.String()
}

// routeTo is a route configuration sending every request to cluster with
// the given extra route-action fields.
func routeTo(cluster, action string) string {
	return fmt.Sprintf(`
virtual_hosts:
- name: all
  domains: ["*"]
  routes:
  - name: default
    match: {prefix: /}
    route: {cluster: %s%s}
`, cluster, action)
}

// h1Upstream serves handler over HTTP/1.1; h2Upstream over h2c.
func h1Upstream(t testing.TB, handler http.HandlerFunc) string {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func h2Upstream(t testing.TB, handler http.HandlerFunc) string {
	srv := httptest.NewUnstartedServer(h2c.NewHandler(handler, &http2.Server{}))
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func (p *proxy) gauge(clusterName, name string) int64 {
	return stats.ClusterScope(p.store, clusterName).Gauge(name).Value()
}

// expectIdle checks that every request of the cluster has been accounted
// as finished: no upstream_rq_active, no pending request, no active request
// on any endpoint, no retry held.
func (p *proxy) expectIdle(clusterName string) {
	p.t.Helper()
	c := p.clusters.Get(clusterName)
	deadline := time.Now().Add(5 * time.Second)
	for {
		busy := p.gauge(clusterName, "upstream_rq_active") != 0 || p.gauge(clusterName, "upstream_rq_pending_active") != 0 ||
			c.RetryLimit().InUse() != 0
		for _, h := range c.Hosts() {
			busy = busy || h.ActiveRequests() != 0
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			p.t.Errorf("cluster %s still busy: rq_active %d, pending %d, retries held %d", clusterName,
				p.gauge(clusterName, "upstream_rq_active"), p.gauge(clusterName, "upstream_rq_pending_active"), c.RetryLimit().InUse())
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
