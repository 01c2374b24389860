package accesslog

import (
	"strings"

	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// tlsOperators are the command operators about the downstream and upstream
// TLS sessions (proxy/transport/tls). Each prints "-" on a plaintext
// connection, as Envoy does; lists of SANs are comma-separated.
func tlsOperators() map[string]operatorSpec {
	down := func(f func(*streaminfo.TLS) string) operatorSpec {
		return text(func(in *streaminfo.Info) string {
			if t := in.Downstream(); t != nil {
				return f(t)
			}
			return ""
		})
	}
	up := func(f func(*streaminfo.TLS) string) operatorSpec {
		return text(func(in *streaminfo.Info) string {
			if t := in.UpstreamTLS; t != nil {
				return f(t)
			}
			return ""
		})
	}
	join := func(s []string) string { return strings.Join(s, ",") }
	return map[string]operatorSpec{
		"DOWNSTREAM_PEER_URI_SAN":  down(func(t *streaminfo.TLS) string { return join(t.PeerURISANs) }),
		"DOWNSTREAM_PEER_DNS_SAN":  down(func(t *streaminfo.TLS) string { return join(t.PeerDNSSANs) }),
		"DOWNSTREAM_LOCAL_URI_SAN": down(func(t *streaminfo.TLS) string { return join(t.LocalURISANs) }),
		"DOWNSTREAM_LOCAL_DNS_SAN": down(func(t *streaminfo.TLS) string { return join(t.LocalDNSSANs) }),
		"DOWNSTREAM_PEER_SUBJECT":  down(func(t *streaminfo.TLS) string { return t.PeerSubject }),
		"DOWNSTREAM_LOCAL_SUBJECT": down(func(t *streaminfo.TLS) string { return t.LocalSubject }),
		"DOWNSTREAM_PEER_SERIAL":   down(func(t *streaminfo.TLS) string { return t.PeerSerial }),
		"DOWNSTREAM_TLS_VERSION":   down(func(t *streaminfo.TLS) string { return t.Version }),
		"DOWNSTREAM_TLS_CIPHER":    down(func(t *streaminfo.TLS) string { return t.Cipher }),
		"UPSTREAM_PEER_URI_SAN":    up(func(t *streaminfo.TLS) string { return join(t.PeerURISANs) }),
		"UPSTREAM_PEER_DNS_SAN":    up(func(t *streaminfo.TLS) string { return join(t.PeerDNSSANs) }),
		"UPSTREAM_PEER_SUBJECT":    up(func(t *streaminfo.TLS) string { return t.PeerSubject }),
		"UPSTREAM_LOCAL_URI_SAN":   up(func(t *streaminfo.TLS) string { return join(t.LocalURISANs) }),
		"UPSTREAM_TLS_VERSION":     up(func(t *streaminfo.TLS) string { return t.Version }),
		"UPSTREAM_TLS_CIPHER":      up(func(t *streaminfo.TLS) string { return t.Cipher }),
	}
}
