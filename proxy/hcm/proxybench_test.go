package hcm

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/outrider-mesh/outrider/internal/looptest"
	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/httpfilter"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/listener/network/networktest"
	"github.com/outrider-mesh/outrider/proxy/router"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// The whole-proxy benchmarks send requests through the connection
// manager, the real router and an upstream pool to a backend on loopback,
// as the bench harness does, so that allocations and CPU per proxied
// request can be compared before and after a change (benchstat). The
// HTTP/1.1 client and backend are hand-written and allocate nothing, so
// allocs/op is the proxy's own.

const benchBodySize = 1024

// BenchmarkProxyHTTP1 is one keep-alive HTTP/1.1 request through the
// proxy per op, on 16 connections.
func BenchmarkProxyHTTP1(b *testing.B) {
	backend := rawBackend(b)
	addr := serveProxy(b, backend, false)
	benchRaw(b, addr, 16, "GET /bench HTTP/1.1\r\nHost: backend\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
}

// BenchmarkProxyHTTP1Post adds a 1 KiB request body.
func BenchmarkProxyHTTP1Post(b *testing.B) {
	backend := rawBackend(b)
	addr := serveProxy(b, backend, false)
	body := string(bytes.Repeat([]byte("q"), benchBodySize))
	benchRaw(b, addr, 16, "POST /bench HTTP/1.1\r\nHost: backend\r\nUser-Agent: bench\r\nContent-Type: application/json\r\n"+
		"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
}

// BenchmarkProxyH2 is one h2c request through the proxy per op (HTTP/2 on
// both sides, as the harness's h2 scenario), with 16 requests in flight.
func BenchmarkProxyH2(b *testing.B) {
	body := bytes.Repeat([]byte("r"), benchBodySize)
	up := httpBackend(b, true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})
	addr := serveProxy(b, up, true)
	c := looptest.H2CClient(b)
	url := "http://" + addr + "/bench"
	b.ReportAllocs()
	b.SetParallelism(8) // 16 in flight on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					break
				}
			}
			resp.Body.Close()
		}
	})
}

// benchRaw sends req on conns keep-alive connections, reading each
// response (Content-Length framed) before the next request.
func benchRaw(b *testing.B, addr string, conns int, req string) {
	b.ReportAllocs()
	b.SetParallelism((conns + 1) / 2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 8192)
		out := []byte(req)
		for pb.Next() {
			if _, err := c.Write(out); err != nil {
				b.Error(err)
				return
			}
			if err := readRawResponse(br); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

var contentLength = []byte("content-length:")

// readRawResponse reads one response head and its Content-Length body.
func readRawResponse(br *bufio.Reader) error {
	n := -1
	status := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if !status {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
				return fmt.Errorf("bad status line %q", line)
			}
			status = true
			continue
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			v := bytes.TrimSpace(line[len(contentLength):])
			n = 0
			for _, c := range v {
				n = n*10 + int(c-'0')
			}
		}
	}
	if n < 0 {
		return fmt.Errorf("response without Content-Length")
	}
	_, err := br.Discard(n)
	return err
}

// rawBackend answers every request with a fixed 1 KiB response, reading
// heads and Content-Length bodies; it allocates nothing per request.
func rawBackend(tb testing.TB) string {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n" +
		"Content-Length: " + strconv.Itoa(benchBodySize) + "\r\n\r\n" + string(bytes.Repeat([]byte("r"), benchBodySize)))
	return looptest.Serve(tb, func(c net.Conn) {
		br := bufio.NewReaderSize(c, 8192)
		for {
			n := 0
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) <= 2 {
					break
				}
				if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
					for _, ch := range bytes.TrimSpace(line[len(contentLength):]) {
						n = n*10 + int(ch-'0')
					}
				}
			}
			if _, err := br.Discard(n); err != nil {
				return
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	})
}

// httpBackend serves h with net/http, h2c too when h2 is set.
func httpBackend(tb testing.TB, h2 bool, h http.HandlerFunc) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var handler http.Handler = h
	if h2 {
		handler = h2c.NewHandler(h, &http2.Server{})
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// serveProxy starts a connection manager with the real router in front of
// backend (spoken to in HTTP/2 when h2) and returns its address.
func serveProxy(tb testing.TB, backend string, h2 bool) string {
	tb.Helper()
	store := stats.NewStore()
	clusters := cluster.NewManager(store)
	tb.Cleanup(clusters.Close)
	host, portStr, _ := net.SplitHostPort(backend)
	port, _ := strconv.Atoi(portStr)
	c := &clusterv3.Cluster{
		Name:                 "backend",
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: "backend", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)}}}},
			}}}},
		}}},
	}
	if h2 {
		opts, err := anypb.New(&upstreamhttpv3.HttpProtocolOptions{UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}}}}})
		if err != nil {
			tb.Fatal(err)
		}
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": opts}
	}
	if err := clusters.Update([]*clusterv3.Cluster{c}, "clusters"); err != nil {
		tb.Fatal(err)
	}
	env := &network.Env{
		Clusters:    clusters,
		Stats:       store,
		DrainTime:   time.Second,
		HTTPFilters: map[string]httpfilter.Factory{RouterTypeURL: router.Factory},
	}
	cm, err := Translate(baseConfig(tb), env, "typed_config")
	if err != nil {
		tb.Fatal(err)
	}
	return networktest.Serve(tb, cm)
}
