package cluster

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/outrider-mesh/outrider/proxy/stats"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// statsClusters are an unused cluster, one with track_remaining (its
// remaining_* gauges) and one whose name holds dots and sorts among the
// first one's stats, as Envoy's flat names do.
const statsClusters = `
- name: backend
  connect_timeout: 1s
  load_assignment:
    cluster_name: backend
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
- name: backend.lb
  connect_timeout: 1s
  circuit_breakers:
    thresholds:
    - track_remaining: true
  load_assignment:
    cluster_name: backend.lb
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.2, port_value: 8080 } } }
`

// TestClusterStatsMatchGoldenFiles pins the stats every cluster lists,
// used or not, in the three exposition formats: dashboards and alerts
// query these names.
func TestClusterStatsMatchGoldenFiles(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		write  func(*stats.Store, io.Writer, stats.Query) error
	}{
		{name: "envoy text", golden: "stats.golden", write: (*stats.Store).WriteText},
		{name: "envoy json", golden: "stats_json.golden", write: (*stats.Store).WriteJSON},
		{name: "prometheus text", golden: "stats_prometheus.golden", write: (*stats.Store).WritePrometheus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, store := newManager(t, statsClusters)
			st := m.Get("backend").Stats()
			st.RqTotal.Add(2)
			st.RecordStatus(200)
			st.RqTime.Record(12)
			st.CxConnectMs.Record(1)
			var b bytes.Buffer
			if err := tt.write(store, &b, stats.Query{}); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, b.Bytes())
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update if the change is intended):\n%s", path, got)
	}
}

func TestAClusterAllocatesItsTrafficStatsWithItsFirstRequest(t *testing.T) {
	m, store := newManager(t, statsClusters)
	c := m.Get("backend")
	var before bytes.Buffer
	if err := store.WriteText(&before, stats.Query{}); err != nil {
		t.Fatal(err)
	}
	if c.traffic.Load() != nil {
		t.Fatal("a cluster that carried nothing holds traffic state")
	}
	h, err := c.Pick(nil)
	if err != nil {
		t.Fatal(err)
	}
	h.Pool()
	if c.traffic.Load() == nil {
		t.Fatal("a pool was made without the cluster's traffic state")
	}
	if c.Stats().RqTotal.Value() != 0 || c.Stats() != c.Stats() {
		t.Error("the traffic stats are not one zeroed set")
	}
	var after bytes.Buffer
	if err := store.WriteText(&after, stats.Query{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before.Bytes(), after.Bytes()) {
		t.Errorf("allocating the traffic stats changed /stats:\n%s\nwas\n%s", after.String(), before.String())
	}
}
