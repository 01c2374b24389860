package config

import (
	// Registered so that a transport_socket's typed_config can be decoded.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// The TLS transport socket (envoy.transport_sockets.tls, package
// proxy/transport/tls): the part of the supported subset it implements,
// merged into the allowlist of supported.go. A filter chain terminates TLS
// with a DownstreamTlsContext; a cluster originates it with an
// UpstreamTlsContext. Certificates and CAs come from files, inline PEM or
// file-based SDS.
const (
	typeDownstreamTLS = "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
	typeUpstreamTLS   = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
	tlsPrefix         = "envoy.extensions.transport_sockets.tls.v3."
)

var tlsRules = map[string]map[string]fieldRule{
	"envoy.config.core.v3.TransportSocket/downstream": {
		"name":         allow,
		"typed_config": typed(typeDownstreamTLS),
	},
	"envoy.config.core.v3.TransportSocket/upstream": {
		"name":         allow,
		"typed_config": typed(typeUpstreamTLS),
	},
	typeDownstreamTLS: {
		"common_tls_context":                   allow,
		"require_client_certificate":           allow, // default false: a client certificate is verified only when sent
		"require_sni":                          allow, // default false
		"disable_stateless_session_resumption": allow, // default false: session tickets are issued
	},
	typeUpstreamTLS: {
		"common_tls_context": allow,
		"sni":                allow, // default: no SNI
		"max_session_keys":   allow, // default 1; 0 disables resumption
	},
	tlsPrefix + "CommonTlsContext": {
		"tls_params":                           allow,
		"tls_certificates":                     allow, // files or inline PEM, loaded once
		"tls_certificate_sds_secret_configs":   allow, // file-based SDS, reloaded when the files change
		"validation_context":                   allow,
		"validation_context_sds_secret_config": allow,
		"combined_validation_context":          allow,
		"alpn_protocols":                       allow, // listener: offered; cluster: default h2 and/or http/1.1 by protocol
	},
	tlsPrefix + "TlsParameters": {
		"tls_minimum_protocol_version": allow, // default TLSv1_2
		"tls_maximum_protocol_version": allow, // default TLSv1_3 (listeners), TLSv1_2 (clusters)
		"cipher_suites":                allow, // OpenSSL names, TLS 1.0–1.2 only; Go orders them
		"ecdh_curves":                  allow, // X25519, P-256, P-384, P-521, X25519MLKEM768
	},
	tlsPrefix + "TlsCertificate": {
		"certificate_chain": as("envoy.config.core.v3.DataSource/tls"),
		"private_key":       as("envoy.config.core.v3.DataSource/tls"),
	},
	"envoy.config.core.v3.DataSource/tls": {
		"filename":      allow,
		"inline_string": allow,
		"inline_bytes":  allow,
	},
	tlsPrefix + "SdsSecretConfig": {
		"name":       allow,
		"sds_config": as("envoy.config.core.v3.ConfigSource/sds"), // required: static_resources.secrets are not supported yet
	},
	"envoy.config.core.v3.ConfigSource/sds": {
		"path_config_source":   allow, // file-based SDS only
		"path":                 allow, // deprecated form of path_config_source.path
		"resource_api_version": enum("V3"),
	},
	"envoy.config.core.v3.PathConfigSource": {
		"path":              allow, // a DiscoveryResponse of Secrets, YAML or JSON
		"watched_directory": allow, // default: the file's directory
	},
	"envoy.config.core.v3.WatchedDirectory": {
		"path": allow,
	},
	tlsPrefix + "CertificateValidationContext": {
		"trusted_ca":                    as("envoy.config.core.v3.DataSource/tls"), // required with SAN matchers
		"match_typed_subject_alt_names": allow,                                     // any matcher may match
		"match_subject_alt_names":       allow,                                     // deprecated: matches every SAN type
	},
	tlsPrefix + "CertificateValidationContext/sans": {
		"match_typed_subject_alt_names": allow,
		"match_subject_alt_names":       allow,
	},
	tlsPrefix + "SubjectAltNameMatcher": {
		"san_type": enum("EMAIL", "DNS", "URI", "IP_ADDRESS"),
		"matcher":  allow, // DNS: an exact name also matches a wildcard SAN covering it
	},
	tlsPrefix + "CommonTlsContext.CombinedCertificateValidationContext": {
		"default_validation_context":           as(tlsPrefix + "CertificateValidationContext/sans"),
		"validation_context_sds_secret_config": allow,
	},
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.AutoHttpConfig": {
		"http_protocol_options":  as("envoy.config.core.v3.Http1ProtocolOptions/upstream"),
		"http2_protocol_options": allow,
	},
}

func init() {
	for rules, fields := range tlsRules {
		supported[rules] = fields
	}
	supported["envoy.config.listener.v3.FilterChain"]["transport_socket"] = as("envoy.config.core.v3.TransportSocket/downstream")
	supported["envoy.config.listener.v3.FilterChain"]["transport_socket_connect_timeout"] = allow // default 10s; 0 disables
	supported["envoy.config.cluster.v3.Cluster"]["transport_socket"] = as("envoy.config.core.v3.TransportSocket/upstream")
	supported[typeUpstreamHTTP]["auto_config"] = allow // HTTP/2 or HTTP/1.1 by ALPN; needs a TLS transport_socket
	extensionNames[typeDownstreamTLS] = "envoy.transport_sockets.tls"
	extensionNames[typeUpstreamTLS] = "envoy.transport_sockets.tls"
}
