package server

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// Route configuration fields, each through the assembled proxy.

func TestRouteConfigurationFieldsWorkEndToEnd(t *testing.T) {
	overwrite := func(level string) string {
		return `{header: {key: x-level, value: ` + level + `}, append_action: OVERWRITE_IF_EXISTS_OR_ADD}`
	}
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name        string
		routeConfig string
		check       func(t *testing.T, addr string)
	}{
		{
			name: "header mutations of the route configuration win by default",
			routeConfig: `{request_headers_to_add: [` + overwrite("config") + `], virtual_hosts: [{name: all, domains: ["*"],
				routes: [{match: {prefix: /}, route: {cluster: backend}, request_headers_to_add: [` + overwrite("route") + `]}]}]}`,
			check: func(t *testing.T, addr string) {
				resp, _ := do(t, addr, "GET", "/")
				wantHeaders(t, resp.Header, map[string]string{"Echo-X-Level": "config"})
			},
		},
		{
			name: "most_specific_header_mutations_wins lets the route's win",
			routeConfig: `{most_specific_header_mutations_wins: true, request_headers_to_add: [` + overwrite("config") + `],
				virtual_hosts: [{name: all, domains: ["*"],
				routes: [{match: {prefix: /}, route: {cluster: backend}, request_headers_to_add: [` + overwrite("route") + `]}]}]}`,
			check: func(t *testing.T, addr string) {
				resp, _ := do(t, addr, "GET", "/")
				wantHeaders(t, resp.Header, map[string]string{"Echo-X-Level": "route"})
			},
		},
		{
			name: "max_direct_response_body_size_bytes allows bodies beyond Envoy's 4 KiB default",
			routeConfig: `{max_direct_response_body_size_bytes: 8192, virtual_hosts: [{name: all, domains: ["*"],
				routes: [{match: {prefix: /}, direct_response: {status: 200, body: {inline_string: ` + strings.Repeat("a", 5000) + `}}}]}]}`,
			check: func(t *testing.T, addr string) {
				resp, body := do(t, addr, "GET", "/")
				wantStatus(t, resp, body, 200, strings.Repeat("a", 5000))
			},
		},
		{
			name:        "without ignore_port_in_host_matching the port is part of the authority",
			routeConfig: `{virtual_hosts: [{name: exact, domains: [svc.example], routes: [{match: {prefix: /}, route: {cluster: backend}}]}]}`,
			check: func(t *testing.T, addr string) {
				resp, body := do(t, addr, "GET", "/", "Host", "svc.example:8080")
				wantStatus(t, resp, body, 404, "")
			},
		},
		{
			name: "ignore_port_in_host_matching matches the authority without its port",
			routeConfig: `{ignore_port_in_host_matching: true, virtual_hosts: [{name: exact, domains: [svc.example],
				routes: [{match: {prefix: /}, route: {cluster: backend}}]}]}`,
			check: func(t *testing.T, addr string) {
				resp, body := do(t, addr, "GET", "/", "Host", "svc.example:8080")
				wantStatus(t, resp, body, 200, "ok")
			},
		},
		{
			name:        "cluster_not_found_response_code answers an unknown cluster_header with its code",
			routeConfig: vhost("", `{match: {prefix: /}, route: {cluster_header: x-cluster, cluster_not_found_response_code: NOT_FOUND}}`),
			check: func(t *testing.T, addr string) {
				resp, body := do(t, addr, "GET", "/", "X-Cluster", "nope")
				wantStatus(t, resp, body, 404, "")
				resp, body = do(t, addr, "GET", "/", "X-Cluster", "backend")
				wantStatus(t, resp, body, 200, "ok")
			},
		},
		{
			name: "a weighted cluster adds and removes its own headers both ways",
			routeConfig: vhost("", `{match: {prefix: /}, route: {weighted_clusters: {clusters: [{name: backend, weight: 1,
				request_headers_to_add: [{header: {key: x-picked, value: backend}}], request_headers_to_remove: [x-drop],
				response_headers_to_add: [{header: {key: x-picked-resp, value: backend}}], response_headers_to_remove: [echo-x-keep]}]}}}`),
			check: func(t *testing.T, addr string) {
				resp, _ := do(t, addr, "GET", "/", "X-Drop", "1", "X-Keep", "1")
				wantHeaders(t, resp.Header, map[string]string{"Echo-X-Picked": "backend", "Echo-X-Drop": "",
					"X-Picked-Resp": "backend", "Echo-X-Keep": ""})
			},
		},
		{
			name: "treat_missing_header_as_empty lets a missing header match an empty value",
			routeConfig: vhost("",
				`{match: {prefix: /, headers: [{name: x-env, string_match: {exact: ""}, treat_missing_header_as_empty: true}]}, direct_response: {status: 200, body: {inline_string: empty}}}`,
				`{match: {prefix: /}, direct_response: {status: 200, body: {inline_string: other}}}`),
			check: func(t *testing.T, addr string) {
				resp, body := do(t, addr, "GET", "/")
				wantStatus(t, resp, body, 200, "empty")
				resp, body = do(t, addr, "GET", "/", "X-Env", "prod")
				wantStatus(t, resp, body, 200, "other")
			},
		},
		{
			name: "without treat_missing_header_as_empty a missing header matches no value",
			routeConfig: vhost("",
				`{match: {prefix: /, headers: [{name: x-env, string_match: {exact: ""}}]}, direct_response: {status: 200, body: {inline_string: empty}}}`,
				`{match: {prefix: /}, direct_response: {status: 200, body: {inline_string: other}}}`),
			check: func(t *testing.T, addr string) {
				resp, body := do(t, addr, "GET", "/")
				wantStatus(t, resp, body, 200, "other")
			},
		},
		{
			name: "keep_empty_value adds a header whose value is empty; without it the header is skipped",
			routeConfig: vhost("", `{match: {prefix: /}, route: {cluster: backend}, response_headers_to_add: [
				{header: {key: x-kept, value: ""}, keep_empty_value: true}, {header: {key: x-skipped, value: ""}}]}`),
			check: func(t *testing.T, addr string) {
				resp, _ := do(t, addr, "GET", "/")
				wantHeaders(t, resp.Header, map[string]string{"X-Kept": "<empty>", "X-Skipped": ""})
			},
		},
		{
			name: "raw_value is added as its bytes",
			routeConfig: vhost("", `{match: {prefix: /}, route: {cluster: backend}, request_headers_to_add: [
				{header: {key: x-raw, raw_value: `+b64([]byte("r\xc3\xa4w 100%%"))+`}}]}`),
			check: func(t *testing.T, addr string) {
				resp, _ := do(t, addr, "GET", "/")
				wantHeaders(t, resp.Header, map[string]string{"Echo-X-Raw": "r\xc3\xa4w 100%"})
			},
		},
		{
			name:        "a redirect's regex_rewrite rewrites the path and keeps the query",
			routeConfig: vhost("", `{match: {prefix: /old/}, redirect: {regex_rewrite: {pattern: {regex: "^/old/([^/]+)$"}, substitution: "/new/\\1/index"}}}`),
			check: func(t *testing.T, addr string) {
				resp, _ := do(t, addr, "GET", "/old/docs?page=2", "Host", "site.example")
				if resp.StatusCode != 301 || resp.Header.Get("Location") != "http://site.example/new/docs/index?page=2" {
					t.Errorf("got %d Location %q, want 301 http://site.example/new/docs/index?page=2",
						resp.StatusCode, resp.Header.Get("Location"))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := echoBackend(t)
			_, addr := startProxy(t, bootstrapYAML(tt.routeConfig, "", clusterYAML("backend", "", be)))
			tt.check(t, addr)
		})
	}
}

// upgradeBackend answers websocket upgrades with 101 and then echoes; other
// requests get 200. It counts the requests it saw.
func upgradeBackend(t *testing.T, count *int32, mu *sync.Mutex) string {
	return rawBackend(t, func(_ int, c net.Conn, br *bufio.Reader) {
		head, err := readHead(br)
		if err != nil {
			return
		}
		mu.Lock()
		*count++
		mu.Unlock()
		if !strings.Contains(strings.ToLower(head), "upgrade: websocket") {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		io.Copy(c, br)
	})
}

func TestRouteUpgradeConfigsOverrideTheConnectionManagers(t *testing.T) {
	tests := []struct {
		name       string
		hcm, route string // upgrade_configs of each ("" for none)
		want       int
	}{
		{name: "the manager's websocket config applies to a route without one",
			hcm: "[{upgrade_type: websocket}]", want: 101},
		{name: "a route can enable websocket the manager does not configure",
			route: "[{upgrade_type: websocket}]", want: 101},
		{name: "a route can enable websocket the manager disables",
			hcm: "[{upgrade_type: websocket, enabled: false}]", route: "[{upgrade_type: WebSocket, enabled: true}]", want: 101},
		{name: "a route can refuse websocket the manager enables",
			hcm: "[{upgrade_type: websocket}]", route: "[{upgrade_type: websocket, enabled: false}]", want: 403},
		{name: "without any config websocket is refused", want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				count int32
			)
			be := upgradeBackend(t, &count, &mu)
			route := `{match: {prefix: /}, route: {cluster: backend`
			if tt.route != "" {
				route += ", upgrade_configs: " + tt.route
			}
			cfg, logPath := withAccessLog(t, bootstrapYAML(vhost("", route+"}}"), "", clusterYAML("backend", "", be)))
			if tt.hcm != "" {
				cfg = strings.Replace(cfg, "          stat_prefix: main\n", "          stat_prefix: main\n          upgrade_configs: "+tt.hcm+"\n", 1)
			}
			s, addr := startProxy(t, cfg)

			c, br := looptest.Dial(t, addr)
			io.WriteString(c, "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			mu.Lock()
			reached := count
			mu.Unlock()
			if tt.want == 101 {
				io.WriteString(c, "ping")
				got := make([]byte, 4)
				if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
					t.Errorf("echo through the upgraded connection: %q, %v", got, err)
				}
				return
			}
			if reached != 0 {
				t.Errorf("the refused upgrade reached the upstream")
			}
			if !resp.Close {
				t.Errorf("the 403 does not close the connection")
			}
			if got := accessLog(t, s, logPath, 1)[0]; got != "403 - upgrade_failed" {
				t.Errorf("access log %q, want \"403 - upgrade_failed\"", got)
			}
			if got := counter(s, "http.main.downstream_rq_ws_on_non_ws_route"); got != 1 {
				t.Errorf("downstream_rq_ws_on_non_ws_route = %d, want 1", got)
			}
		})
	}
}
