package server

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
)

var (
	memServices = flag.Int("services", 2000, "BenchmarkHeapPerService: services in the large configuration")
	heapProfile = flag.String("heapprofile", "", "BenchmarkHeapPerService: write the heap profile of the running proxy with -services services to this file (use -memprofilerate=1 for every object)")
)

// BenchmarkHeapPerService measures what each added service (one STATIC
// cluster with one endpoint, one virtual host with two domains and one
// route: the shape of the benchmark harness's configuration) adds to the
// Go heap of a running, idle proxy, and how many goroutines it adds.
//
//	go test -run '^$' -bench HeapPerService -benchtime=1x ./proxy/server -services 10000 \
//	    -memprofilerate=1 -heapprofile /tmp/heap.pprof
func BenchmarkHeapPerService(b *testing.B) {
	const small = 10
	for range b.N {
		m0 := idleHeap(b, small, "")
		m1 := idleHeap(b, *memServices, *heapProfile)
		added := float64(*memServices - small)
		b.ReportMetric(float64(m1.heap-m0.heap)/added, "heap-B/service")
		b.ReportMetric(float64(m1.spans-m0.spans)/added, "spans-B/service")
		b.ReportMetric(float64(m1.held-m0.held)/added, "held-B/service")
		b.ReportMetric(float64(m1.goroutines-m0.goroutines)/added, "goroutines/service")
	}
}

// idleMemory is what a started, idle proxy holds.
type idleMemory struct {
	heap  int64 // live objects (HeapAlloc)
	spans int64 // spans holding them (HeapInuse): heap plus fragmentation
	// held is what the runtime keeps from the system once the memory
	// a load left behind is released (Sys - HeapReleased), what RSS
	// follows.
	held       int64
	goroutines int
}

// idleHeap starts a proxy with n services and returns what it holds once
// started and the load's garbage is released, as outrider-proxy does,
// optionally writing a heap profile.
func idleHeap(b *testing.B, n int, profile string) idleMemory {
	b.Helper()
	// The configuration is rendered on each call, not kept: the server's
	// Options hold the Load func, and a kept bootstrap would be measured.
	s := New(Options{DrainTime: time.Second, Load: func() (*bootstrapv3.Bootstrap, error) {
		return config.Parse(servicesConfig(n), "services.yaml")
	}})
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := idleMemory{heap: int64(ms.HeapAlloc), spans: int64(ms.HeapInuse),
		held: int64(ms.Sys - ms.HeapReleased), goroutines: runtime.NumGoroutine()}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
	}
	runtime.KeepAlive(s)
	return m
}

// servicesConfig is an HTTP listener on a free port with n services, as
// bench/peers renders them for the memory rows.
func servicesConfig(n int) []byte {
	var vh, cl bytes.Buffer
	for i := range n {
		name := fmt.Sprintf("svc-%05d", i)
		fmt.Fprintf(&vh, `
            - name: %[1]s
              domains: ["%[1]s", "%[1]s.bench.svc.cluster.local"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: %[1]s }`, name)
		fmt.Fprintf(&cl, `
  - name: %s
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: %[1]s
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.2.%d.%d, port_value: 8080 } } }`, name, i/250, 1+i%250)
	}
	return fmt.Appendf(nil, `static_resources:
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: main
          route_config:
            name: main
            virtual_hosts:%s
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:%s
`, vh.String(), cl.String())
}
