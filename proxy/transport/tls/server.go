package tls

import (
	"context"
	cryptotls "crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// Server terminates TLS on the connections of one filter chain. It is
// immutable and safe for concurrent use; certificates rotate underneath it
// through its SDS sources.
type Server struct {
	c       *common
	cfg     *cryptotls.Config
	require bool
	mat     *material // kept alive for /certs as long as the Server is
}

// TranslateDownstream translates a filter chain's transport_socket, which
// must hold a DownstreamTlsContext. p is the transport_socket's path.
func (r *Registry) TranslateDownstream(ts *corev3.TransportSocket, p config.Path) (*Server, error) {
	var errs config.Errors
	pb := &tlsv3.DownstreamTlsContext{}
	if !decodeSocket(ts, DownstreamTLSContextURL, pb, p, &errs) {
		return nil, errs.Err()
	}
	tp := p.Field("typed_config")
	rejectUnhandled(&errs, pb, tp, "common_tls_context", "require_client_certificate", "require_sni",
		"disable_stateless_session_resumption")
	c := r.translateCommon(pb.GetCommonTlsContext(), true, tp.Field("common_tls_context"), &errs)
	if len(c.certs) == 0 && len(errs) == 0 {
		errs.Addf(tp.Field("common_tls_context"), "tls: a server needs a certificate (tls_certificates or tls_certificate_sds_secret_configs)")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	s := &Server{c: c, require: pb.GetRequireClientCertificate().GetValue(), mat: c.material()}
	requireSNI := pb.GetRequireSni().GetValue()
	s.cfg = &cryptotls.Config{
		MinVersion:       c.params.minVersion,
		MaxVersion:       c.params.maxVersion,
		CipherSuites:     c.params.ciphers,
		CurvePreferences: c.params.curves,
		NextProtos:       c.alpn,
		GetCertificate: func(chi *cryptotls.ClientHelloInfo) (*cryptotls.Certificate, error) {
			if requireSNI && chi.ServerName == "" {
				return nil, &HandshakeError{Kind: FailHandshake, Detail: "client sent no SNI (require_sni)"}
			}
			return s.certificate(chi), nil
		},
		// Peer certificates are checked by VerifyConnection against the
		// current (possibly rotated) trust, so Go is only asked to
		// request them.
		ClientAuth: cryptotls.NoClientCert,
		VerifyConnection: func(cs cryptotls.ConnectionState) error {
			return c.val.verify(cs, s.require, true)
		},
		SessionTicketsDisabled: pb.GetDisableStatelessSessionResumption(),
	}
	if c.val != nil || s.require {
		s.cfg.ClientAuth = cryptotls.RequestClientCert
	}
	r.track(s.mat)
	return s, nil
}

// certificate picks the first certificate the client can use (an ECDSA
// and an RSA certificate may be configured side by side).
func (s *Server) certificate(chi *cryptotls.ClientHelloInfo) *cryptotls.Certificate {
	var first *cryptotls.Certificate
	for _, src := range s.c.certs {
		kp := src.current()
		if kp == nil {
			continue
		}
		if first == nil {
			first = &kp.cert
		}
		if chi.SupportsCertificate(&kp.cert) == nil {
			return &kp.cert
		}
	}
	return first
}

// ALPN is the configured alpn_protocols.
func (s *Server) ALPN() []string { return s.c.alpn }

// Handshake runs the server side of the handshake on conn, which must read
// from the connection's first byte (listener filters' peeked bytes
// included), within timeout (0: no limit). It counts the outcome in st
// (nil: not counted). On failure the error is a *HandshakeError and conn
// is left open for the caller to close.
func (s *Server) Handshake(ctx context.Context, conn net.Conn, timeout time.Duration, st *Stats) (*cryptotls.Conn, *streaminfo.TLS, error) {
	if timeout > 0 {
		conn.SetDeadline(time.Now().Add(timeout))
	}
	tc := cryptotls.Server(conn, s.cfg)
	err := tc.HandshakeContext(ctx)
	if timeout > 0 {
		conn.SetDeadline(time.Time{})
	}
	if err != nil {
		he := classify(err)
		st.failed(he)
		return nil, nil, he
	}
	cs := tc.ConnectionState()
	st.succeeded(&cs)
	return tc, describe(&cs, s.c), nil
}

// describe builds a connection's TLS record for access logs. The local
// certificate is the context's first: crypto/tls does not say which one
// a handshake chose, and contexts rarely have more than one.
func describe(cs *cryptotls.ConnectionState, c *common) *streaminfo.TLS {
	t := &streaminfo.TLS{
		Version:    versionName(cs.Version),
		Cipher:     cipherName(cs.CipherSuite),
		ServerName: cs.ServerName,
		ALPN:       cs.NegotiatedProtocol,
	}
	if len(cs.PeerCertificates) > 0 {
		leaf := cs.PeerCertificates[0]
		t.PeerURISANs = uriStrings(leaf)
		t.PeerDNSSANs = leaf.DNSNames
		t.PeerSubject = leaf.Subject.String()
		t.PeerSerial = leaf.SerialNumber.Text(16)
	}
	if len(c.certs) > 0 {
		if kp := c.certs[0].current(); kp != nil && kp.cert.Leaf != nil {
			t.LocalURISANs, t.LocalDNSSANs, t.LocalSubject = uriStrings(kp.cert.Leaf), kp.cert.Leaf.DNSNames, kp.cert.Leaf.Subject.String()
		}
	}
	return t
}

func uriStrings(c *x509.Certificate) []string {
	out := make([]string, len(c.URIs))
	for i, u := range c.URIs {
		out[i] = u.String()
	}
	return out
}

// IsHandshakeError reports whether err is a failed TLS handshake, and
// returns it.
func IsHandshakeError(err error) (*HandshakeError, bool) {
	var he *HandshakeError
	ok := errors.As(err, &he)
	return he, ok
}
