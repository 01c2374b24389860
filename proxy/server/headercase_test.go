package server

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// preserveCaseFormat is header_key_format with the preserve_case
// formatter, indented for http_protocol_options at the given depth.
func preserveCaseFormat(indent string) string {
	return indent + "header_key_format:\n" +
		indent + "  stateful_formatter:\n" +
		indent + "    name: preserve_case\n" +
		indent + "    typed_config: {\"@type\": type.googleapis.com/envoy.extensions.http.header_formatters.preserve_case.v3.PreserveCaseFormatterConfig}\n"
}

func TestHeaderCaseIsPreservedBothWaysWhenListenerAndClusterAskForIt(t *testing.T) {
	const (
		request = "GET / HTTP/1.1\r\nHost: x\r\nx-lower-case: a\r\nX-MiXeD-CaSe: b\r\nX-ALL-CAPS: c\r\n\r\n"
		answer  = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-upstream-lower: 1\r\nX-UpStReAm-MiXeD: 2\r\n\r\nok"
	)
	tests := []struct {
		name              string
		listener, cluster bool
		// wantUp are request header lines the upstream must see, exactly;
		// wantDown are response header lines the client must see.
		wantUp, wantDown []string
	}{
		{
			name: "with preserve_case on both sides the names keep their case both ways", listener: true, cluster: true,
			wantUp:   []string{"x-lower-case: a", "X-MiXeD-CaSe: b", "X-ALL-CAPS: c"},
			wantDown: []string{"x-upstream-lower: 1", "X-UpStReAm-MiXeD: 2"},
		},
		{
			name: "with preserve_case on the listener only names are canonical both ways", listener: true,
			wantUp:   []string{"X-Lower-Case: a", "X-Mixed-Case: b", "X-All-Caps: c"},
			wantDown: []string{"X-Upstream-Lower: 1", "X-Upstream-Mixed: 2"},
		},
		{
			name: "with preserve_case on the cluster only names are canonical both ways", cluster: true,
			wantUp:   []string{"X-Lower-Case: a", "X-Mixed-Case: b", "X-All-Caps: c"},
			wantDown: []string{"X-Upstream-Lower: 1", "X-Upstream-Mixed: 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			heads := make(chan string, 1)
			be := rawBackend(t, func(_ int, c net.Conn, br *bufio.Reader) {
				head, err := readHead(br)
				heads <- head
				if err == nil {
					io.WriteString(c, answer)
				}
			})
			clusterExtra := ""
			if tt.cluster {
				clusterExtra = `    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http_protocol_options:
` + preserveCaseFormat("            ")
			}
			cfg := httpProxyConfig(`              - match: {prefix: "/"}
                route: {cluster: backend}`, staticCluster("backend", clusterExtra, be))
			if tt.listener {
				cfg = strings.Replace(cfg, "          stat_prefix: main\n",
					"          stat_prefix: main\n          http_protocol_options:\n"+preserveCaseFormat("            "), 1)
			}
			_, addr := startProxy(t, cfg)

			c, br := looptest.Dial(t, addr)
			io.WriteString(c, request)
			up := receive(t, heads)
			down, err := readHead(br)
			if err != nil {
				t.Fatalf("reading the response head: %v\n%s", err, down)
			}
			if !strings.HasPrefix(down, "HTTP/1.1 200 ") {
				t.Fatalf("response %q, want 200", down)
			}
			for _, line := range tt.wantUp {
				if !strings.Contains(up, "\r\n"+line+"\r\n") {
					t.Errorf("the upstream did not get %q; it got:\n%s", line, up)
				}
			}
			for _, line := range tt.wantDown {
				if !strings.Contains(down, "\r\n"+line+"\r\n") {
					t.Errorf("the client did not get %q; it got:\n%s", line, down)
				}
			}
		})
	}
}
