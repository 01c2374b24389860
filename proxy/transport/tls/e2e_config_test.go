package tls_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

const routerFilter = `
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}`

// fileLog is an access_log writing format to path.
func fileLog(path, format string) string {
	return fmt.Sprintf(`
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: %s
              log_format: {text_format_source: {inline_string: "%s\n"}}`, path, format)
}

// sdsSecretFile writes a file-based SDS response naming certDir's
// tls.crt and tls.key, watched through certDir (a Kubernetes Secret mount).
func sdsSecretFile(t *testing.T, certDir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sds.yaml")
	body := fmt.Sprintf(`resources:
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: default
  tls_certificate:
    certificate_chain: {filename: %[1]s/tls.crt}
    private_key: {filename: %[1]s/tls.key}
    watched_directory: {path: %[1]s}
`, certDir)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// inboundConfig is proxy B, the server side's sidecar: listener "main"
// terminates mTLS (certificate from SDS, client must be frontendID) and
// routes gRPC to grpcAddr and the rest to appAddr; listener "sni" passes
// TLS for passthrough.example.com through to externalAddr untouched.
func inboundConfig(caPath, sdsPath, accessLog, appAddr, grpcAddr, externalAddr string) string {
	return fmt.Sprintf(`static_resources:
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - name: mtls
      transport_socket_connect_timeout: 0.3s
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            alpn_protocols: [h2, http/1.1]
            tls_certificate_sds_secret_configs:
            - name: default
              sds_config:
                resource_api_version: V3
                path_config_source: {path: %[2]s}
            validation_context:
              trusted_ca: {filename: %[1]s}
              match_typed_subject_alt_names:
              - san_type: URI
                matcher: {exact: "%[7]s"}
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: inbound%[3]s
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/", grpc: {}}
                route: {cluster: grpc, timeout: 0s}
              - match: {prefix: "/"}
                route: {cluster: app}%[8]s
  - name: sni
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector}
    filter_chains:
    - filter_chain_match: {server_names: [passthrough.example.com], transport_protocol: tls}
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: passthrough
          cluster: external
  clusters:
  - name: app
    connect_timeout: 1s
    load_assignment: {cluster_name: app, endpoints: [{lb_endpoints: [%[4]s]}]}
  - name: grpc
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment: {cluster_name: grpc, endpoints: [{lb_endpoints: [%[5]s]}]}
  - name: external
    connect_timeout: 1s
    load_assignment: {cluster_name: external, endpoints: [{lb_endpoints: [%[6]s]}]}
`, caPath, sdsPath, fileLog(accessLog, "%DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_TLS_VERSION% %PROTOCOL% %REQ(:PATH)%"),
		endpoint(appAddr), endpoint(grpcAddr), endpoint(externalAddr), frontendID, routerFilter)
}

// outboundConfig is proxy A, the client side's sidecar: plaintext from
// the app on "main", mTLS to proxy B as frontendID, expecting backendID
// (cluster "b") or an identity B does not have (cluster "impostor-check",
// routed for /wrong-identity); HTTP/2 or HTTP/1.1 by ALPN.
func outboundConfig(caPath, certPath, keyPath, accessLog, bAddr string) string {
	cluster := func(name, wantID string) string {
		return fmt.Sprintf(`  - name: %s
    connect_timeout: 1s
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: backend.default.svc
        common_tls_context:
          tls_certificates:
          - certificate_chain: {filename: %s}
            private_key: {filename: %s}
          validation_context:
            trusted_ca: {filename: %s}
            match_typed_subject_alt_names:
            - san_type: URI
              matcher: {exact: "%s"}
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        auto_config: {}
    load_assignment: {cluster_name: %s, endpoints: [{lb_endpoints: [%s]}]}
`, name, certPath, keyPath, caPath, wantID, name, endpoint(bAddr))
	}
	return fmt.Sprintf(`static_resources:
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: outbound%s
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/wrong-identity"}
                route: {cluster: impostor-check}
              - match: {prefix: "/"}
                route: {cluster: b, timeout: 0s}%s
  clusters:
%s%s`, fileLog(accessLog, "%UPSTREAM_CLUSTER% %UPSTREAM_PEER_URI_SAN% %UPSTREAM_TLS_VERSION% %RESPONSE_FLAGS% %UPSTREAM_TRANSPORT_FAILURE_REASON%"),
		routerFilter, cluster("b", backendID), cluster("impostor-check", "spiffe://cluster.local/ns/default/sa/someone-else"))
}
