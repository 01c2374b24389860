package cluster

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
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

// A host's "ip:port" is made by its first String, once, even when
// requests ask for it at the same time.
func TestAHostMakesItsTextOnceOnFirstUse(t *testing.T) {
	m, _ := newManager(t, `
- name: c
  type: STATIC
  connect_timeout: 1s
  load_assignment:
    cluster_name: c
    endpoints:
    - lb_endpoints:
      - endpoint: {address: {socket_address: {address: 10.1.2.3, port_value: 8080}}}
`)
	h := m.Get("c").Hosts()[0]
	if h.addrText.Load() != nil {
		t.Fatal("the text was made before anyone asked for it")
	}
	texts := make(chan string, 8)
	for range cap(texts) {
		go func() { texts <- h.String() }()
	}
	for range cap(texts) {
		if got := <-texts; got != "10.1.2.3:8080" {
			t.Errorf("String() = %q, want 10.1.2.3:8080", got)
		}
	}
	if a, b := h.String(), h.String(); unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("String made a new text on a later call")
	}
}
