package stats

import (
	"sync"
	"testing"
)

func TestScopeHelpersNameStatsAsEnvoy(t *testing.T) {
	st := NewStore()
	tests := []struct {
		name       string
		scope      Scope
		stat       string
		wantFlat   string
		wantFamily string
		wantLabels string
	}{
		{name: "cluster counter", scope: ClusterScope(st, "backend"), stat: "upstream_rq_total",
			wantFlat: "cluster.backend.upstream_rq_total", wantFamily: "envoy_cluster_upstream_rq_total",
			wantLabels: `envoy_cluster_name="backend"`},
		{name: "cluster with dots keeps its whole name in the label", scope: ClusterScope(st, "outbound|80||svc.ns.svc.cluster.local"), stat: "upstream_cx_total",
			wantFlat: "cluster.outbound|80||svc.ns.svc.cluster.local.upstream_cx_total", wantFamily: "envoy_cluster_upstream_cx_total",
			wantLabels: `envoy_cluster_name="outbound|80||svc.ns.svc.cluster.local"`},
		{name: "http connection manager", scope: HTTPScope(st, "ingress"), stat: "downstream_rq_total",
			wantFlat: "http.ingress.downstream_rq_total", wantFamily: "envoy_http_downstream_rq_total",
			wantLabels: `envoy_http_conn_manager_prefix="ingress"`},
		{name: "listener on an IPv4 address", scope: ListenerScope(st, "0.0.0.0:10000"), stat: "downstream_cx_total",
			wantFlat: "listener.0.0.0.0_10000.downstream_cx_total", wantFamily: "envoy_listener_downstream_cx_total",
			wantLabels: `envoy_listener_address="0.0.0.0_10000"`},
		{name: "listener on an IPv6 address", scope: ListenerScope(st, "[::]:15001"), stat: "downstream_cx_total",
			wantFlat: "listener.[__]_15001.downstream_cx_total", wantFamily: "envoy_listener_downstream_cx_total",
			wantLabels: `envoy_listener_address="[__]_15001"`},
		{name: "listener with a stat prefix keeps it in the metric name", scope: ListenerScope(st, "admin"), stat: "downstream_cx_total",
			wantFlat: "listener.admin.downstream_cx_total", wantFamily: "envoy_listener_admin_downstream_cx_total"},
		{name: "per-listener http stats carry both labels, innermost first", scope: ListenerHTTPScope(ListenerScope(st, "0.0.0.0:80"), "ingress"), stat: "downstream_rq_completed",
			wantFlat: "listener.0.0.0.0_80.http.ingress.downstream_rq_completed", wantFamily: "envoy_listener_http_downstream_rq_completed",
			wantLabels: `envoy_http_conn_manager_prefix="ingress",envoy_listener_address="0.0.0.0_80"`},
		{name: "tcp proxy", scope: TCPScope(st, "mysql"), stat: "downstream_cx_total",
			wantFlat: "tcp.mysql.downstream_cx_total", wantFamily: "envoy_tcp_downstream_cx_total",
			wantLabels: `envoy_tcp_prefix="mysql"`},
		{name: "server", scope: ServerScope(st), stat: "live",
			wantFlat: "server.live", wantFamily: "envoy_server_live"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.scope.Counter(tt.stat)
			if c.Name != tt.wantFlat {
				t.Errorf("flat name = %q, want %q", c.Name, tt.wantFlat)
			}
			if c.expo.family != tt.wantFamily {
				t.Errorf("family = %q, want %q", c.expo.family, tt.wantFamily)
			}
			if c.expo.labels != tt.wantLabels {
				t.Errorf("labels = %q, want %q", c.expo.labels, tt.wantLabels)
			}
		})
	}
}

func TestCreatingAStatTwiceReturnsTheSameStat(t *testing.T) {
	st := NewStore()
	a := ClusterScope(st, "backend").Counter("upstream_rq_total")
	a.Inc()
	b := ClusterScope(st, "backend").Counter("upstream_rq_total")
	if a != b || b.Value() != 1 {
		t.Fatalf("second creation returned %p (value %d), want %p", b, b.Value(), a)
	}
	g1, g2 := st.Root().Gauge("g"), st.Root().Gauge("g")
	h1, h2 := st.Root().Histogram("h"), st.Root().Histogram("h")
	if g1 != g2 || h1 != h2 {
		t.Fatal("gauges or histograms were created twice")
	}
}

func TestStatusCountersCountClassAndCode(t *testing.T) {
	st := NewStore()
	sc := NewStatusCounters(ClusterScope(st, "backend"), "upstream_rq")
	for _, code := range []int{200, 200, 503, 404, 99, 600, 0, -1} {
		sc.Record(code)
	}
	tests := []struct {
		flat       string
		want       uint64
		wantFamily string
		wantLabels string
	}{
		{flat: "cluster.backend.upstream_rq_2xx", want: 2, wantFamily: "envoy_cluster_upstream_rq_xx",
			wantLabels: `envoy_response_code_class="2",envoy_cluster_name="backend"`},
		{flat: "cluster.backend.upstream_rq_200", want: 2, wantFamily: "envoy_cluster_upstream_rq",
			wantLabels: `envoy_response_code="200",envoy_cluster_name="backend"`},
		{flat: "cluster.backend.upstream_rq_5xx", want: 1, wantFamily: "envoy_cluster_upstream_rq_xx",
			wantLabels: `envoy_response_code_class="5",envoy_cluster_name="backend"`},
		{flat: "cluster.backend.upstream_rq_503", want: 1, wantFamily: "envoy_cluster_upstream_rq",
			wantLabels: `envoy_response_code="503",envoy_cluster_name="backend"`},
		{flat: "cluster.backend.upstream_rq_4xx", want: 1, wantFamily: "envoy_cluster_upstream_rq_xx",
			wantLabels: `envoy_response_code_class="4",envoy_cluster_name="backend"`},
		{flat: "cluster.backend.upstream_rq_404", want: 1, wantFamily: "envoy_cluster_upstream_rq",
			wantLabels: `envoy_response_code="404",envoy_cluster_name="backend"`},
	}
	got := map[string]*Counter{}
	st.Each(func(c *Counter) { got[c.Name] = c }, nil, nil)
	if len(got) != len(tests) {
		t.Errorf("store holds %d counters, want %d (codes outside 100..599 must not create any)", len(got), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.flat, func(t *testing.T) {
			c := got[tt.flat]
			if c == nil {
				t.Fatalf("counter %s missing", tt.flat)
			}
			if c.Value() != tt.want || c.expo.family != tt.wantFamily || c.expo.labels != tt.wantLabels {
				t.Errorf("got %d %s{%s}, want %d %s{%s}", c.Value(), c.expo.family, c.expo.labels, tt.want, tt.wantFamily, tt.wantLabels)
			}
		})
	}
}

func TestStatusCountersWithClassesListsAllClassesAtZero(t *testing.T) {
	st := NewStore()
	NewStatusCounters(HTTPScope(st, "ingress"), "downstream_rq").WithClasses()
	var names []string
	st.Each(func(c *Counter) { names = append(names, c.Name) }, nil, nil)
	want := []string{"http.ingress.downstream_rq_1xx", "http.ingress.downstream_rq_2xx", "http.ingress.downstream_rq_3xx", "http.ingress.downstream_rq_4xx", "http.ingress.downstream_rq_5xx"}
	if len(names) != len(want) {
		t.Fatalf("counters = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("counters = %v, want %v", names, want)
		}
	}
}

func TestStatusCountersAreSafeUnderConcurrentFirstUse(t *testing.T) {
	st := NewStore()
	sc := NewStatusCounters(ClusterScope(st, "backend"), "upstream_rq")
	const workers, each = 8, 1000
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				sc.Record(200 + i%3)
			}
		}()
	}
	wg.Wait()
	if got := sc.Class(2).Value(); got != workers*each {
		t.Errorf("2xx = %d, want %d", got, workers*each)
	}
	var sum uint64
	for code := 200; code < 203; code++ {
		sum += sc.Code(code).Value()
	}
	if sum != workers*each {
		t.Errorf("sum of per-code counters = %d, want %d", sum, workers*each)
	}
}

func TestResetCountersZeroesCountersButKeepsThemUsed(t *testing.T) {
	st := NewStore()
	c := st.Root().Counter("c")
	c.Add(5)
	st.ResetCounters()
	if c.Value() != 0 || !c.Used() {
		t.Errorf("after reset value=%d used=%v, want 0 true", c.Value(), c.Used())
	}
}
