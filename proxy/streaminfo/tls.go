package streaminfo

import "context"

// TLS describes the TLS session of a connection, for access logs
// (%DOWNSTREAM_TLS_VERSION%, %DOWNSTREAM_PEER_URI_SAN%, …). It is built
// once per connection, after the handshake, and shared read-only by every
// stream of that connection.
type TLS struct {
	Version      string   // "TLSv1.2", "TLSv1.3", as Envoy prints it
	Cipher       string   // OpenSSL name, "TLS_AES_128_GCM_SHA256" or "ECDHE-RSA-AES128-GCM-SHA256"
	ServerName   string   // SNI
	ALPN         string   // negotiated protocol, "" when none
	PeerURISANs  []string // URI SANs of the peer's certificate (SPIFFE IDs)
	PeerDNSSANs  []string
	PeerSubject  string // RFC 2253 form, "" when the peer sent no certificate
	PeerSerial   string // lowercase hex
	LocalURISANs []string
	LocalDNSSANs []string
	LocalSubject string
}

type tlsKey struct{}

// WithDownstreamTLS returns ctx carrying the downstream connection's TLS
// record. The listener sets it on the context it hands its network filter,
// so every request of a TLS connection can find it.
func WithDownstreamTLS(ctx context.Context, t *TLS) context.Context {
	return context.WithValue(ctx, tlsKey{}, t)
}

// DownstreamTLSFrom returns the record set by WithDownstreamTLS, or nil.
func DownstreamTLSFrom(ctx context.Context) *TLS {
	t, _ := ctx.Value(tlsKey{}).(*TLS)
	return t
}

// Downstream returns the downstream TLS record of the stream: the
// DownstreamTLS field when a network filter copied it, else the one carried
// by the request's context; nil for a plaintext connection.
func (i *Info) Downstream() *TLS {
	if i.DownstreamTLS != nil {
		return i.DownstreamTLS
	}
	if i.Request != nil {
		return DownstreamTLSFrom(i.Request.Context())
	}
	return nil
}
