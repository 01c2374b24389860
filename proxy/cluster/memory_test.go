package cluster

import (
	"fmt"
	"strings"
	"testing"
)

// In a mesh most clusters differ only by name and endpoints: they share
// one copy of the rest of their configuration.
func TestClustersConfiguredAlikeShareOnePolicy(t *testing.T) {
	var y strings.Builder
	for i, timeout := range []string{"1s", "1s", "1s", "2s"} {
		fmt.Fprintf(&y, `
- name: c%[1]d
  type: STATIC
  connect_timeout: %[2]s
  load_assignment:
    cluster_name: c%[1]d
    endpoints:
    - lb_endpoints:
      - endpoint: {address: {socket_address: {address: 127.0.0.%[3]d, port_value: 80}}}
`, i, timeout, i+1)
	}
	m, _ := newManager(t, y.String())
	for _, tc := range []struct {
		a, b  string
		share bool
	}{
		{a: "c0", b: "c1", share: true},
		{a: "c0", b: "c2", share: true},
		{a: "c0", b: "c3", share: false}, // another connect_timeout
	} {
		t.Run(tc.a+" and "+tc.b, func(t *testing.T) {
			a, b := m.Get(tc.a), m.Get(tc.b)
			if got := a.s.policy == b.s.policy; got != tc.share {
				t.Errorf("share a policy: %v, want %v", got, tc.share)
			}
			if a.s.connectTimeout != a.s.policy.connectTimeout || a.Hosts()[0].String() == b.Hosts()[0].String() {
				t.Error("the clusters' own settings were mixed up")
			}
		})
	}
}
