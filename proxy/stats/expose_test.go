package stats

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sampleStore holds one of each kind of stat Envoy's dashboards query.
func sampleStore() *Store {
	st := NewStore()
	cl := ClusterScope(st, "backend")
	cl.Counter("upstream_rq_total").Add(3)
	cl.Counter("upstream_cx_connect_fail")
	cl.Gauge("upstream_cx_active").Set(2)
	rq := NewStatusCounters(cl, "upstream_rq")
	rq.Record(200)
	rq.Record(200)
	rq.Record(503)
	t := cl.Histogram("upstream_rq_time")
	for _, v := range []uint64{0, 1, 3, 12, 70} {
		t.Record(v)
	}
	cl.Histogram("upstream_cx_length_ms")
	http := HTTPScope(st, "ingress")
	http.Counter("downstream_rq_total").Add(3)
	NewStatusCounters(http, "downstream_rq").WithClasses().Record(200)
	ListenerScope(st, "0.0.0.0:10000").Counter("downstream_cx_total").Inc()
	TCPScope(st, "db").Counter("downstream_cx_total").Inc()
	ServerScope(st).Gauge("live").Set(1)
	ClusterScope(st, `we"ird\name`).Counter("upstream_rq_total")
	return st
}

func TestExpositionMatchesGoldenFiles(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		write  func(*Store, io.Writer, Query) error
		query  Query
	}{
		{name: "prometheus text", golden: "prometheus.golden", write: (*Store).WritePrometheus},
		{name: "prometheus text of used stats", golden: "prometheus_usedonly.golden", write: (*Store).WritePrometheus, query: Query{UsedOnly: true}},
		{name: "envoy text", golden: "text.golden", write: (*Store).WriteText},
		{name: "envoy text filtered by regex", golden: "text_filter.golden", write: (*Store).WriteText, query: Query{Filter: regexp.MustCompile(`upstream_rq_\d`)}},
		{name: "envoy json", golden: "json.golden", write: (*Store).WriteJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.write(sampleStore(), &b, tt.query); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("output differs from %s (run go test -update if the change is intended):\n%s", path, b.String())
			}
		})
	}
}

// promLine is one sample line: name{labels} value.
var promLine = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\} (-?[0-9.e+]+|\+Inf|NaN)$`)

func TestPrometheusOutputIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	if err := sampleStore().WritePrometheus(&b, Query{}); err != nil {
		t.Fatal(err)
	}
	typed := map[string]string{}
	current := ""
	for i, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		switch {
		case line == "":
			current = ""
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 {
				t.Fatalf("line %d: malformed TYPE line %q", i+1, line)
			}
			if _, dup := typed[f[2]]; dup {
				t.Errorf("line %d: family %s has a second TYPE line", i+1, f[2])
			}
			typed[f[2]], current = f[3], f[2]
		default:
			m := promLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %d: not a valid sample: %q", i+1, line)
			}
			name := m[1]
			if typed[current] == "histogram" {
				name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			}
			if name != current {
				t.Errorf("line %d: sample of %s outside its family block (%s)", i+1, m[1], current)
			}
		}
	}
	for _, want := range []string{
		`envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"} 3`,
		`envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="backend"} 2`,
		`envoy_cluster_upstream_rq{envoy_response_code="503",envoy_cluster_name="backend"} 1`,
		`envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress"} 3`,
		`envoy_listener_downstream_cx_total{envoy_listener_address="0.0.0.0_10000"} 1`,
		`envoy_tcp_downstream_cx_total{envoy_tcp_prefix="db"} 1`,
		`envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="+Inf"} 5`,
		`envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="backend"} 86`,
		`envoy_cluster_upstream_rq_time_count{envoy_cluster_name="backend"} 5`,
		`envoy_cluster_upstream_rq_total{envoy_cluster_name="we\"ird\\name"} 0`,
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("output lacks %s", want)
		}
	}
}

func TestQuerySelectsStats(t *testing.T) {
	tests := []struct {
		name  string
		query Query
		want  []string
	}{
		{name: "type counters", query: Query{Type: Counters, Filter: regexp.MustCompile(`^cluster\.backend\.upstream_(rq_total|cx_active)`)},
			want: []string{"cluster.backend.upstream_rq_total: 3"}},
		{name: "type gauges", query: Query{Type: Gauges},
			want: []string{"cluster.backend.upstream_cx_active: 2", "server.live: 1"}},
		{name: "used histograms only", query: Query{Type: Histograms, UsedOnly: true},
			want: []string{"cluster.backend.upstream_rq_time: P0(nan,0) P25(nan,1) P50(nan,3.5) P75(nan,21.5) P90(nan,75.5) P95(nan,87.75) P99(nan,97.55) P99.5(nan,98.775) P99.9(nan,99.755) P100(nan,100)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := sampleStore()
			st.Flush() // an empty interval prints nan
			var b bytes.Buffer
			if err := st.WriteText(&b, tt.query); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestJSONOutputParses(t *testing.T) {
	var b bytes.Buffer
	if err := sampleStore().WriteJSON(&b, Query{}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Stats []json.RawMessage `json:"stats"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b.String())
	}
	var last struct {
		Histograms struct {
			Supported []float64 `json:"supported_quantiles"`
			Computed  []struct {
				Name   string `json:"name"`
				Values []struct{ Interval, Cumulative *float64 }
			} `json:"computed_quantiles"`
		} `json:"histograms"`
	}
	if err := json.Unmarshal(doc.Stats[len(doc.Stats)-1], &last); err != nil {
		t.Fatal(err)
	}
	if len(last.Histograms.Computed) != 2 || len(last.Histograms.Supported) != 10 {
		t.Fatalf("histograms = %+v", last.Histograms)
	}
	if v := last.Histograms.Computed[0].Values; v[0].Cumulative != nil {
		t.Errorf("an empty histogram has cumulative %v, want null", *v[0].Cumulative)
	}
	if v := last.Histograms.Computed[1].Values; v[9].Cumulative == nil || *v[9].Cumulative != 100 {
		t.Errorf("P100 of upstream_rq_time = %v, want 100", v[9].Cumulative)
	}
}

func TestExpositionRunsBesideWritersAndCreators(t *testing.T) {
	st := sampleStore()
	c := ClusterScope(st, "backend").Counter("upstream_rq_total")
	h := ClusterScope(st, "backend").Histogram("upstream_rq_time")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.Inc()
			h.Record(uint64(i % 1000))
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			ClusterScope(st, fmt.Sprint("c", i)).Counter("upstream_rq_total").Inc()
		}
	}()
	for i := 0; i < 50; i++ {
		if err := st.WritePrometheus(io.Discard, Query{}); err != nil {
			t.Fatal(err)
		}
		if err := st.WriteText(io.Discard, Query{}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	var b bytes.Buffer
	st.WritePrometheus(&b, Query{Filter: regexp.MustCompile(`^cluster\.c199\.`)})
	if !strings.Contains(b.String(), `envoy_cluster_upstream_rq_total{envoy_cluster_name="c199"} 1`) {
		t.Errorf("a stat created during exposition is missing afterwards:\n%s", b.String())
	}
}
