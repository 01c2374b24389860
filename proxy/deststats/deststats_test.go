package deststats

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/outrider-mesh/outrider/internal/looptest"
	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/deststats/deststatspb"
	"github.com/outrider-mesh/outrider/proxy/httpfilter"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// front serves the filter the way the connection manager does: it fills
// the stream info, runs the filter around a handler that answers with the
// status in the "status" query parameter (and a grpc-status trailer from
// "grpc"), and records the response code as the router would. It speaks
// HTTP/1.1 and prior-knowledge h2c.
func front(t *testing.T, cfg *struct{ max uint32 }) (*stats.Store, string) {
	t.Helper()
	store := stats.NewStore()
	max := uint32(0)
	if cfg != nil {
		max = cfg.max
	}
	f, err := Factory(deststatspb.New("outbound", max), &httpfilter.Env{Stats: store}, "f")
	if err != nil {
		t.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := streaminfo.From(r.Context())
		code, _ := strconv.Atoi(r.URL.Query().Get("status"))
		if code == 0 {
			code = 200
		}
		if g := r.URL.Query().Get("grpc"); g != "" {
			w.Header().Set("Trailer", "Grpc-Status")
			w.Header().Set("Content-Type", "application/grpc")
			w.WriteHeader(code)
			w.Header().Set("Grpc-Status", g)
			info.ResponseTrailer = http.Header{"Grpc-Status": {g}}
		} else {
			w.WriteHeader(code)
		}
		info.ResponseCode = code
	})
	h := f(app)
	srv := httptest.NewServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &streaminfo.Info{Start: time.Now(), Protocol: r.Proto}
		if r.ProtoMajor == 2 {
			info.Protocol = "HTTP/2"
		}
		h.ServeHTTP(w, r.WithContext(streaminfo.With(r.Context(), info)))
	}), &http2.Server{}))
	t.Cleanup(srv.Close)
	return store, srv.Listener.Addr().String()
}

// get sends one request for host; h2 picks prior-knowledge HTTP/2, grpc
// sets a gRPC content type.
func get(t *testing.T, addr, host, query string, h2, grpc bool) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	if h2 {
		client = looptest.H2CClient(t)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/?"+query, nil)
	req.Host = host
	if grpc {
		req.Header.Set("Content-Type", "application/grpc")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func counterValue(store *stats.Store, name string) (uint64, bool) {
	var v uint64
	found := false
	store.Each(func(c *stats.Counter) {
		if c.Name == name {
			v, found = c.Value(), true
		}
	}, nil, nil)
	return v, found
}

func TestRequestsAreCountedByAuthorityProtocolAndClass(t *testing.T) {
	store, addr := front(t, nil)
	get(t, addr, "reviews:9080", "status=200", false, false)
	get(t, addr, "reviews:9080", "status=204", false, false)
	get(t, addr, "Reviews:9080", "status=503", false, false) // authorities are case-insensitive
	get(t, addr, "ratings", "status=404", true, false)
	get(t, addr, "greeter:50051", "grpc=0", true, true)
	get(t, addr, "greeter:50051", "grpc=14", true, true)

	tests := []struct {
		name string
		want uint64
	}{
		{name: "destination.outbound.reviews_9080.HTTP/1.1.rq_total", want: 3},
		{name: "destination.outbound.reviews_9080.HTTP/1.1.rq_2xx", want: 2},
		{name: "destination.outbound.reviews_9080.HTTP/1.1.rq_5xx", want: 1},
		{name: "destination.outbound.ratings.HTTP/2.rq_total", want: 1},
		{name: "destination.outbound.ratings.HTTP/2.rq_4xx", want: 1},
		{name: "destination.outbound.greeter_50051.gRPC.rq_2xx", want: 2},
		{name: "destination.outbound.greeter_50051.gRPC.grpc_success", want: 1},
		{name: "destination.outbound.greeter_50051.gRPC.grpc_failure", want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := counterValue(store, tt.name); got != tt.want {
				t.Errorf("%s = %d, want %d", tt.name, got, tt.want)
			}
		})
	}
	if _, found := counterValue(store, "destination.outbound.Reviews_9080.HTTP/1.1.rq_total"); found {
		t.Error("an upper-case authority got series of its own")
	}
}

func TestPrometheusShowsDestinationsAsLabels(t *testing.T) {
	store, addr := front(t, nil)
	get(t, addr, "reviews:9080", "status=200", false, false)
	var b bytes.Buffer
	if err := store.WritePrometheus(&b, stats.Query{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`envoy_destination_rq_total{destination_protocol="HTTP/1.1",destination_authority="reviews:9080",destination_stats_prefix="outbound"} 1`,
		`envoy_destination_rq_xx{envoy_response_code_class="2",destination_protocol="HTTP/1.1",destination_authority="reviews:9080",destination_stats_prefix="outbound"} 1`,
		`envoy_destination_rq_time_count{destination_protocol="HTTP/1.1",destination_authority="reviews:9080",destination_stats_prefix="outbound"} 1`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %s in:\n%s", want, b.String())
		}
	}
}

func TestDestinationsBeyondTheCapAreFoldedIntoOverflow(t *testing.T) {
	store, addr := front(t, &struct{ max uint32 }{max: 2})
	for i := 0; i < 5; i++ {
		get(t, addr, fmt.Sprintf("svc-%d", i), "status=200", false, false)
	}
	get(t, addr, "svc-0", "status=200", false, false) // known before the cap: its own series
	tests := []struct {
		name  string
		want  uint64
		found bool
	}{
		{name: "destination.outbound.svc-0.HTTP/1.1.rq_total", want: 2, found: true},
		{name: "destination.outbound.svc-1.HTTP/1.1.rq_total", want: 1, found: true},
		{name: "destination.outbound.svc-2.HTTP/1.1.rq_total", found: false},
		{name: "destination.outbound.overflow.HTTP/1.1.rq_total", want: 3, found: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found := counterValue(store, tt.name)
			if found != tt.found || got != tt.want {
				t.Errorf("%s = %d (exists %v), want %d (exists %v)", tt.name, got, found, tt.want, tt.found)
			}
		})
	}
}

func TestAuthoritiesThatCannotBeLabelsAreFoldedIntoOverflow(t *testing.T) {
	store, _ := front(t, nil)
	tb := tableFor(store, "outbound", 10)
	tests := []struct {
		name, authority, want string
	}{
		{name: "an empty authority is unknown", authority: "", want: "unknown"},
		{name: "an over-long authority overflows", authority: strings.Repeat("a", 300), want: Overflow},
		{name: "a quote overflows", authority: `a"b`, want: Overflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tb.lookup(key{authority: tt.authority, protocol: "HTTP/1.1"})
			if !strings.HasPrefix(d.flat, tt.want+".") {
				t.Errorf("counted under %q, want %q", d.flat, tt.want)
			}
		})
	}
}

func TestAKnownDestinationIsCountedWithoutAllocating(t *testing.T) {
	store := stats.NewStore()
	tb := tableFor(store, "outbound", 10)
	r, _ := http.NewRequest("GET", "http://reviews:9080/", nil)
	info := &streaminfo.Info{Start: time.Now(), Protocol: "HTTP/1.1", ResponseCode: 200}
	tb.record(r, info)
	if n := testing.AllocsPerRun(100, func() { tb.record(r, info) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

func TestConfigErrorsNameTheirPath(t *testing.T) {
	tests := []struct {
		name string
		env  *httpfilter.Env
		want string
	}{
		{name: "a missing stat_prefix is rejected", env: &httpfilter.Env{Stats: stats.NewStore()},
			want: "http_filters[0].typed_config.stat_prefix: destination_stats: stat_prefix is required"},
		{name: "a missing store is rejected", env: &httpfilter.Env{},
			want: "http_filters[0].typed_config: destination_stats: no stats store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Factory(deststatspb.New("", 0), tt.env, config.Path("http_filters[0].typed_config"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func BenchmarkRecordKnownDestination(b *testing.B) {
	tb := tableFor(stats.NewStore(), "outbound", 10)
	r, _ := http.NewRequest("GET", "http://reviews:9080/", nil)
	info := &streaminfo.Info{Start: time.Now(), Protocol: "HTTP/1.1", ResponseCode: 200}
	b.ReportAllocs()
	for b.Loop() {
		tb.record(r, info)
	}
}
