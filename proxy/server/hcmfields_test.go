package server

import (
	"strings"
	"testing"
)

// Connection manager fields, each through the assembled proxy.

func TestConnectionManagerHeaderFieldsWorkEndToEnd(t *testing.T) {
	tests := []struct {
		name    string
		hcm     string // lines under the connection manager, indented by 10
		request []string
		want    map[string]string // response headers (Echo-* are what the upstream saw)
	}{
		{
			name: "via is added to responses",
			hcm:  "          via: outrider-test\n",
			want: map[string]string{"Via": "outrider-test"},
		},
		{
			name:    "always_set_request_id_in_response returns the request id",
			hcm:     "          always_set_request_id_in_response: true\n",
			request: []string{"X-Request-Id", "11111111-2222-4333-8444-555555555555"},
			want:    map[string]string{"X-Request-Id": "11111111-2222-4333-8444-555555555555"},
		},
		{
			name:    "without always_set_request_id_in_response the response carries no id",
			request: []string{"X-Request-Id", "11111111-2222-4333-8444-555555555555"},
			want:    map[string]string{"X-Request-Id": ""},
		},
		{
			name:    "use_remote_address appends the peer to x-forwarded-for",
			hcm:     "          use_remote_address: true\n",
			request: []string{"X-Forwarded-For", "198.51.100.1"},
			want:    map[string]string{"Echo-X-Forwarded-For": "198.51.100.1,127.0.0.1"},
		},
		{
			name:    "skip_xff_append leaves x-forwarded-for as it came",
			hcm:     "          use_remote_address: true\n          skip_xff_append: true\n",
			request: []string{"X-Forwarded-For", "198.51.100.1"},
			want:    map[string]string{"Echo-X-Forwarded-For": "198.51.100.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := echoBackend(t)
			cfg := strings.Replace(bootstrapYAML(vhost("", `{match: {prefix: /}, route: {cluster: backend}}`), "",
				clusterYAML("backend", "", be)), "          stat_prefix: main\n", "          stat_prefix: main\n"+tt.hcm, 1)
			_, addr := startProxy(t, cfg)
			resp, body := do(t, addr, "GET", "/", tt.request...)
			wantStatus(t, resp, body, 200, "ok")
			wantHeaders(t, resp.Header, tt.want)
		})
	}
}
