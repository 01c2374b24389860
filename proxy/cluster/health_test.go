package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// healthCluster is a STATIC cluster whose endpoints 127.0.0.<i+1>:80 have
// the given health_status values ("" leaves it unset).
func healthCluster(statuses ...string) string {
	var b strings.Builder
	b.WriteString("- name: h\n  type: STATIC\n  load_assignment:\n    endpoints:\n    - lb_endpoints:\n")
	for i, st := range statuses {
		b.WriteString("      - endpoint: {address: {socket_address: {address: 127.0.0." + string(rune('1'+i)) + ", port_value: 80}}}\n")
		if st != "" {
			b.WriteString("        health_status: " + st + "\n")
		}
	}
	return b.String()
}

func TestHealthStatusTakesHostsOutOfRotationUntilTooFewAreLeft(t *testing.T) {
	tests := []struct {
		name     string
		statuses []string
		// wantPicked are the hosts picks may land on.
		wantPicked  []string
		wantHealthy int64
		wantPanic   bool
	}{
		{
			name:       "unhealthy hosts take no traffic while half the hosts are healthy",
			statuses:   []string{"HEALTHY", "UNHEALTHY"},
			wantPicked: []string{"127.0.0.1:80"}, wantHealthy: 1,
		},
		{
			name:       "UNKNOWN counts as healthy, DRAINING and TIMEOUT do not",
			statuses:   []string{"", "UNKNOWN", "DRAINING", "TIMEOUT"},
			wantPicked: []string{"127.0.0.1:80", "127.0.0.2:80"}, wantHealthy: 2,
		},
		{
			name:       "below half healthy every host takes traffic (panic mode)",
			statuses:   []string{"HEALTHY", "UNHEALTHY", "DRAINING"},
			wantPicked: []string{"127.0.0.1:80", "127.0.0.2:80", "127.0.0.3:80"}, wantHealthy: 1, wantPanic: true,
		},
		{
			name:       "with no healthy host at all every host takes traffic",
			statuses:   []string{"UNHEALTHY", "TIMEOUT"},
			wantPicked: []string{"127.0.0.1:80", "127.0.0.2:80"}, wantHealthy: 0, wantPanic: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newManager(t, healthCluster(tt.statuses...))
			c := m.Get("h")
			seen := map[string]bool{}
			const picks = 200
			for i := 0; i < picks; i++ {
				h, err := c.Pick(nil)
				if err != nil {
					t.Fatal(err)
				}
				seen[h.String()] = true
			}
			if len(seen) != len(tt.wantPicked) {
				t.Errorf("picks landed on %v, want %v", seen, tt.wantPicked)
			}
			for _, w := range tt.wantPicked {
				if !seen[w] {
					t.Errorf("%s never picked; picks landed on %v", w, seen)
				}
			}
			st := c.Stats()
			if got := st.MembershipHealthy.Value(); got != tt.wantHealthy {
				t.Errorf("membership_healthy = %d, want %d", got, tt.wantHealthy)
			}
			if got := st.MembershipTotal.Value(); got != int64(len(tt.statuses)) {
				t.Errorf("membership_total = %d, want %d", got, len(tt.statuses))
			}
			wantPanics := uint64(0)
			if tt.wantPanic {
				wantPanics = picks
			}
			if got := st.LbHealthyPanic.Value(); got != wantPanics {
				t.Errorf("lb_healthy_panic = %d, want %d", got, wantPanics)
			}
		})
	}
}

func TestAdminClustersShowsEndpointHealthAndHostname(t *testing.T) {
	m, _ := newManager(t, `
- name: h
  type: STATIC
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 80}}, hostname: a.example}
      - endpoint: {address: {socket_address: {address: 127.0.0.2, port_value: 80}}}
        health_status: UNHEALTHY
`)
	var b strings.Builder
	if err := m.WriteClusters(&b, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"h::127.0.0.1:80::hostname::a.example\n", "h::127.0.0.1:80::health_flags::healthy\n",
		"h::127.0.0.2:80::health_flags::/failed_eds_health\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/clusters lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := m.WriteClusters(&b, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"eds_health_status": "UNHEALTHY"`) {
		t.Errorf("/clusters?format=json lacks the UNHEALTHY status:\n%s", b.String())
	}
}

func TestEndpointHostnameIsTheHostsName(t *testing.T) {
	m, _ := newManager(t, `
- name: static
  type: STATIC
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 80}}, hostname: api.internal}
- name: dns
  type: STRICT_DNS
  dns_lookup_family: V4_ONLY
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: {address: {socket_address: {address: localhost, port_value: 80}}, hostname: named.internal}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.WaitWarm(ctx); err != nil {
		t.Fatal(err)
	}
	for cluster, want := range map[string]string{"static": "api.internal", "dns": "named.internal"} {
		h, err := m.Get(cluster).Pick(nil)
		if err != nil {
			t.Fatal(err)
		}
		if h.Hostname() != want {
			t.Errorf("%s: host %s has hostname %q, want %q", cluster, h, h.Hostname(), want)
		}
	}
}

func TestDegradedHealthAndTypedMetadataAreRejected(t *testing.T) {
	m := NewManager(stats.NewStore())
	err := m.Update(parseClusters(t, healthCluster("DEGRADED")+`  metadata:
    typed_filter_metadata:
      x: {"@type": type.googleapis.com/google.protobuf.Duration, value: 1s}
`), "static_resources.clusters")
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want config.Errors", err)
	}
	for _, want := range []string{
		"static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].health_status: cluster: health_status DEGRADED is not supported",
		"static_resources.clusters[0].metadata.typed_filter_metadata: cluster: typed_filter_metadata is not supported",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q; got:\n%v", want, err)
		}
	}
}
