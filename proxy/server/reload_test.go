package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// The server keeps the running configuration in wire form (a
// config.Snapshot): a reload whose listeners are refused must still put
// the previous clusters back from it, and /config_dump and /server_info
// must still show it.
func TestAReloadWithRefusedListenersKeepsTheRunningClustersAndDump(t *testing.T) {
	backend := httpBackend(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("from a")) })
	good := "node: {id: sidecar-1, cluster: mesh}\n" + httpProxyConfig(
		"              - match: {prefix: /}\n                route: {cluster: a}",
		staticCluster("a", "", backend))
	// Cluster a becomes b, and a second listener asks for a port that is
	// taken: the clusters are swapped in, then the listeners refused.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	bad := strings.NewReplacer("name: a\n", "name: b\n", "cluster: a}", "cluster: b}").Replace(good)
	bad = strings.Replace(bad, "  listeners:\n", "  listeners:\n  - name: taken\n    address: {socket_address: {address: 127.0.0.1, port_value: "+
		strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)+"}}\n    filter_chains:\n    - filters:\n      - name: envoy.filters.network.tcp_proxy\n"+
		"        typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: b}\n", 1)
	configs := []string{good, bad}
	s := New(Options{DrainTime: time.Second, Load: func() (*bootstrapv3.Bootstrap, error) {
		y := configs[0]
		configs = configs[1:]
		return config.Parse([]byte(y), "test.yaml")
	}})
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Close)
	ap, _ := s.ListenerAddr("main")
	client := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)

	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "listeners[0]") {
		t.Fatalf("the reload with a taken port: %v, want its listener refused", err)
	}
	if s.Clusters().Get("a") == nil || s.Clusters().Get("b") != nil {
		t.Errorf("after the refused reload the clusters are not the running ones (a: %v, b: %v)",
			s.Clusters().Get("a") != nil, s.Clusters().Get("b") != nil)
	}
	if code, body, _ := get(t, client, "http://"+ap.String()+"/"); code != 200 || body != "from a" {
		t.Errorf("after the refused reload GET / = %d %q, want 200 from cluster a", code, body)
	}
	for _, tc := range []struct {
		path      string
		want, not *regexp.Regexp
	}{
		{path: "/config_dump", want: regexp.MustCompile(`"name":\s*"a"`), not: regexp.MustCompile(`"name":\s*"b"`)},
		{path: "/server_info", want: regexp.MustCompile(`"cluster":\s*"mesh",\s*"id":\s*"sidecar-1"`)},
	} {
		rec := httptest.NewRecorder()
		s.Admin().ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		body := rec.Body.String()
		if rec.Code != 200 || !tc.want.MatchString(body) || tc.not != nil && tc.not.MatchString(body) {
			t.Errorf("%s does not show the running configuration (%d):\n%.3000s", tc.path, rec.Code, body)
		}
	}
}
