package router

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/outrider-mesh/outrider/internal/looptest"
	"github.com/outrider-mesh/outrider/proxy/failure"
)

// echo answers with facts about the request it got.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h := w.Header()
	h.Set("X-Seen-Proto", r.Proto)
	h.Set("X-Seen-Host", r.Host)
	h.Set("X-Seen-Path", r.URL.RequestURI())
	h.Set("X-Seen-Connection", r.Header.Get("Connection"))
	h.Set("X-Seen-Hop", r.Header.Get("X-Hop"))
	h.Set("X-Seen-Added", r.Header.Get("X-Added"))
	h.Set("X-Seen-Timeout", r.Header.Get("X-Envoy-Expected-Rq-Timeout-Ms"))
	h.Set("X-Seen-Original-Path", r.Header.Get("X-Envoy-Original-Path"))
	h.Set("Connection", "X-Upstream-Hop")
	h.Set("X-Upstream-Hop", "secret")
	io.WriteString(w, "echo:"+string(body))
}

func get(t *testing.T, c *http.Client, method, url string, body string, header ...string) (*http.Response, string) {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rb)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "host") {
			req.Host = header[i+1]
			continue
		}
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestRouterAnswersLocally(t *testing.T) {
	up := h1Upstream(t, echo)
	p := newProxy(t, staticCluster("backend", false, "", up), `
virtual_hosts:
- name: local
  domains: [local.test]
  routes:
  - {name: direct, match: {prefix: /direct}, direct_response: {status: 418, body: {inline_string: short and stout}}, response_headers_to_add: [{header: {key: x-teapot, value: "yes"}}]}
  - {name: redirect, match: {prefix: /old}, redirect: {prefix_rewrite: /new, response_code: FOUND}}
  - {name: header, match: {prefix: /by-header}, route: {cluster_header: x-cluster}}
  - {name: header404, match: {prefix: /nf}, route: {cluster_header: x-cluster, cluster_not_found_response_code: NOT_FOUND}}
`)
	c := h1Client(t)
	tests := []struct {
		name       string
		host, path string
		header     []string
		wantStatus int
		wantBody   string
		wantHeader [2]string
		wantFlags  string
	}{
		{name: "a direct response carries its status, body and headers", host: "local.test", path: "/direct",
			wantStatus: 418, wantBody: "short and stout", wantHeader: [2]string{"X-Teapot", "yes"}, wantFlags: "-"},
		{name: "a redirect answers with its Location", host: "local.test", path: "/old/x?q=1",
			wantStatus: 302, wantHeader: [2]string{"Location", "http://local.test/new/x?q=1"}, wantFlags: "-"},
		{name: "no route is 404 with flag NR", host: "other.test", path: "/",
			wantStatus: 404, wantFlags: "NR"},
		{name: "an unknown cluster_header value is 503 with flag NC", host: "local.test", path: "/by-header", header: []string{"X-Cluster", "nope"},
			wantStatus: 503, wantFlags: "NC"},
		{name: "cluster_not_found_response_code changes the status", host: "local.test", path: "/nf",
			wantStatus: 404, wantFlags: "NC"},
		{name: "a known cluster_header value is forwarded", host: "local.test", path: "/by-header", header: []string{"X-Cluster", "backend"},
			wantStatus: 200, wantBody: "echo:", wantFlags: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, c, "GET", p.url+tt.path, "", append([]string{"Host", tt.host}, tt.header...)...)
			if resp.StatusCode != tt.wantStatus || (tt.wantBody != "" && body != tt.wantBody) {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if k := tt.wantHeader[0]; k != "" && resp.Header.Get(k) != tt.wantHeader[1] {
				t.Errorf("%s = %q, want %q", k, resp.Header.Get(k), tt.wantHeader[1])
			}
			if got := p.lastInfo().Flags.String(); got != tt.wantFlags {
				t.Errorf("flags %s, want %s", got, tt.wantFlags)
			}
		})
	}
}

func TestRouterForwardsAcrossProtocols(t *testing.T) {
	tests := []struct {
		name       string
		upstreamH2 bool
		clientH2   bool
		wantProto  string
	}{
		{name: "HTTP/1.1 downstream to HTTP/1.1 upstream", wantProto: "HTTP/1.1"},
		{name: "HTTP/1.1 downstream to HTTP/2 upstream", upstreamH2: true, wantProto: "HTTP/2.0"},
		{name: "HTTP/2 downstream to HTTP/1.1 upstream", clientH2: true, wantProto: "HTTP/1.1"},
		{name: "HTTP/2 downstream to HTTP/2 upstream", clientH2: true, upstreamH2: true, wantProto: "HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := h1Upstream(t, echo)
			if tt.upstreamH2 {
				up = h2Upstream(t, echo)
			}
			p := newProxy(t, staticCluster("backend", tt.upstreamH2, "", up), `
request_headers_to_add: [{header: {key: x-added, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"}}]
virtual_hosts:
- name: all
  domains: ["*"]
  routes:
  - match: {prefix: /api/}
    route: {cluster: backend, prefix_rewrite: /v2/, host_rewrite_literal: backend.internal, timeout: 2s}
`)
			c := h1Client(t)
			if tt.clientH2 {
				c = looptest.H2CClient(t)
			}
			hdr := []string{"X-Hop", "drop me", "Keep-Alive", "timeout=5"}
			if !tt.clientH2 {
				hdr = append(hdr, "Connection", "X-Hop")
			}
			resp, body := get(t, c, "POST", p.url+"/api/items?x=1", "payload", hdr...)
			if resp.StatusCode != 200 || body != "echo:payload" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			want := map[string]string{
				"X-Seen-Proto":         tt.wantProto,
				"X-Seen-Host":          "backend.internal",
				"X-Seen-Path":          "/v2/items?x=1",
				"X-Seen-Original-Path": "/api/items?x=1",
				"X-Seen-Timeout":       "2000",
				"X-Seen-Connection":    "",
			}
			if !tt.upstreamH2 {
				// named by the upstream's Connection header (HTTP/2 has none)
				want["X-Upstream-Hop"] = ""
			}
			if !tt.clientH2 {
				want["X-Seen-Hop"] = "" // named by Connection: hop-by-hop
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if resp.Header.Get("X-Seen-Added") == "" {
				t.Error("request_headers_to_add with a formatter was not applied")
			}
			if resp.Header.Get("X-Envoy-Upstream-Service-Time") == "" {
				t.Error("x-envoy-upstream-service-time is missing")
			}
			info := p.lastInfo()
			if info.UpstreamHost != up || info.ClusterName != "backend" || info.Attempts != 1 || info.ResponseCode != 200 {
				t.Errorf("stream info: host %s cluster %s attempts %d code %d", info.UpstreamHost, info.ClusterName, info.Attempts, info.ResponseCode)
			}
			if p.counter("backend", "upstream_rq_total") != 1 || p.counter("backend", "upstream_rq_200") != 1 || p.counter("backend", "upstream_rq_2xx") != 1 {
				t.Errorf("upstream_rq_total %d, upstream_rq_200 %d", p.counter("backend", "upstream_rq_total"), p.counter("backend", "upstream_rq_200"))
			}
		})
	}
}

func TestSuppressEnvoyHeaders(t *testing.T) {
	up := h1Upstream(t, echo)
	p := newProxy(t, staticCluster("backend", false, "", up), routeTo("backend", ""))
	p.router.suppressEnvoyHeaders = true
	resp, _ := get(t, h1Client(t), "GET", p.url+"/", "")
	if resp.Header.Get("X-Envoy-Upstream-Service-Time") != "" || resp.Header.Get("X-Seen-Timeout") != "" {
		t.Errorf("envoy headers were not suppressed: %v", resp.Header)
	}
}

func TestConnectFailureIs503UF(t *testing.T) {
	p := newProxy(t, staticCluster("dead", false, "", closedAddr(t)), routeTo("dead", ""))
	resp, body := get(t, h1Client(t), "GET", p.url+"/", "")
	if resp.StatusCode != 503 || body != failure.ErrConnectFailure.Body {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := p.lastInfo().Flags.String(); got != "UF" {
		t.Errorf("flags %s, want UF", got)
	}
	if p.counter("dead", "upstream_cx_connect_fail") != 1 {
		t.Errorf("upstream_cx_connect_fail = %d", p.counter("dead", "upstream_cx_connect_fail"))
	}
}

func TestUseDownstreamProtocolConfigFollowsTheClient(t *testing.T) {
	up := h2Upstream(t, echo) // serves HTTP/1.1 and prior-knowledge h2c
	_, port, _ := strings.Cut(up, ":")
	p := newProxy(t, `
- name: follow
  type: STATIC
  typed_extension_protocol_options:
    envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
      "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
      use_downstream_protocol_config: {http_protocol_options: {}, http2_protocol_options: {}}
  load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: `+port+`}}}}]}]}
`, routeTo("follow", ""))
	for _, tt := range []struct {
		name   string
		client *http.Client
		want   string
	}{
		{name: "an HTTP/1.1 client is forwarded over HTTP/1.1", client: h1Client(t), want: "HTTP/1.1"},
		{name: "an HTTP/2 client is forwarded over HTTP/2", client: looptest.H2CClient(t), want: "HTTP/2.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := get(t, tt.client, "GET", p.url+"/", "")
			if got := resp.Header.Get("X-Seen-Proto"); got != tt.want {
				t.Errorf("upstream saw %s, want %s", got, tt.want)
			}
		})
	}
}
