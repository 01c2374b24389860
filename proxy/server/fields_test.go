package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// Helpers for the end-to-end tests of individual configuration fields.

// bootstrapYAML is a bootstrap with one HTTP listener "main" whose
// connection manager has the given route_config (a YAML flow map), router
// typed_config extras (flow map entries, may be empty) and clusters (list
// items indented by two spaces).
func bootstrapYAML(routeConfig, routerExtra, clustersYAML string) string {
	if routerExtra != "" {
		routerExtra = ", " + routerExtra
	}
	return `static_resources:
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: main
          route_config: ` + routeConfig + `
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router` + routerExtra + `}
  clusters:
` + clustersYAML
}

// vhost is a route_config with one virtual host for every domain, holding
// routes (flow maps) and vhost-level extras (flow map entries).
func vhost(vhostExtra string, routes ...string) string {
	if vhostExtra != "" {
		vhostExtra = ", " + vhostExtra
	}
	return `{virtual_hosts: [{name: all, domains: ["*"], routes: [` + strings.Join(routes, ", ") + `]` + vhostExtra + `}]}`
}

// echoBackend answers 200 "ok" with every X-* request header reflected as
// Echo-X-* (values joined by commas) and Echo-Host.
func echoBackend(t *testing.T) string {
	return httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for k, v := range r.Header {
			if strings.HasPrefix(k, "X-") {
				w.Header().Set("Echo-"+k, strings.Join(v, ","))
			}
		}
		w.Header().Set("Echo-Host", r.Host)
		io.WriteString(w, "ok")
	})
}

// do sends a request through the proxy and returns the response with its
// body read.
func do(t *testing.T, addr, method, target string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Add(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// wantHeaders checks response header values; "" means absent, and a value
// of "<empty>" means present and empty.
func wantHeaders(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := h[http.CanonicalHeaderKey(k)]
		got := strings.Join(v, ",")
		switch {
		case want[k] == "" && ok:
			t.Errorf("header %s = %q, want it absent", k, got)
		case want[k] == "<empty>" && (!ok || got != ""):
			t.Errorf("header %s = %q (present %v), want present and empty", k, got, ok)
		case want[k] != "" && want[k] != "<empty>" && got != want[k]:
			t.Errorf("header %s = %q, want %q", k, got, want[k])
		}
	}
}

// wantStatus checks a response's status and, when wantBody is not "", its
// body.
func wantStatus(t *testing.T, resp *http.Response, body string, code int, wantBody string) {
	t.Helper()
	if resp.StatusCode != code || (wantBody != "" && body != wantBody) {
		t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, code, wantBody)
	}
}

// clusterYAML is a STATIC cluster named name with extra cluster-level
// lines and one endpoint per address (flow-map endpoint extras allowed
// after a '|': "127.0.0.1:80|health_status: UNHEALTHY").
func clusterYAML(name, extra string, endpoints ...string) string {
	var eps []string
	for _, e := range endpoints {
		addr, more, _ := strings.Cut(e, "|")
		ep := endpoint(addr)
		if more != "" {
			ep = strings.TrimSuffix(ep, "}") + ", " + more + "}"
		}
		eps = append(eps, "        - "+ep)
	}
	return fmt.Sprintf("  - name: %s\n    connect_timeout: 1s\n%s    load_assignment:\n      cluster_name: %s\n      endpoints:\n      - lb_endpoints:\n%s\n",
		name, extra, name, strings.Join(eps, "\n"))
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
