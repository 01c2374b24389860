package tls

import (
	"context"
	cryptotls "crypto/tls"
	"net"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// Client originates TLS on a cluster's upstream connections. It is
// immutable and safe for concurrent use.
type Client struct {
	c   *common
	sni string
	st  *Stats
	mat *material
	// configs holds one crypto/tls config per offered ALPN list, built at
	// translation so that a dial allocates none; key "" is the
	// configured alpn_protocols.
	configs map[string]*cryptotls.Config
}

// Default ALPN lists the connection pool asks for when alpn_protocols is
// not configured: Envoy offers the protocol the cluster speaks.
var (
	ALPNHTTP2 = []string{"h2"}
	ALPNHTTP1 = []string{"http/1.1"}
	ALPNAuto  = []string{"h2", "http/1.1"}
)

// TranslateUpstream translates a cluster's transport_socket, which must
// hold an UpstreamTlsContext; p is its path. Outcomes are counted in st
// (the cluster's ssl.* stats; nil: not counted).
func (r *Registry) TranslateUpstream(ts *corev3.TransportSocket, st *Stats, p config.Path) (*Client, error) {
	var errs config.Errors
	pb := &tlsv3.UpstreamTlsContext{}
	if !decodeSocket(ts, UpstreamTLSContextURL, pb, p, &errs) {
		return nil, errs.Err()
	}
	tp := p.Field("typed_config")
	rejectUnhandled(&errs, pb, tp, "common_tls_context", "sni", "max_session_keys")
	c := r.translateCommon(pb.GetCommonTlsContext(), false, tp.Field("common_tls_context"), &errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	cl := &Client{c: c, sni: pb.GetSni(), st: st, mat: c.material(), configs: map[string]*cryptotls.Config{}}
	keys := 1 // Envoy's max_session_keys default
	if v := pb.GetMaxSessionKeys(); v != nil {
		keys = int(v.GetValue())
	}
	var cache cryptotls.ClientSessionCache
	if keys > 0 {
		cache = cryptotls.NewLRUClientSessionCache(keys)
	}
	base := &cryptotls.Config{
		ServerName:       cl.sni,
		MinVersion:       c.params.minVersion,
		MaxVersion:       c.params.maxVersion,
		CipherSuites:     c.params.ciphers,
		CurvePreferences: c.params.curves,
		NextProtos:       c.alpn,
		// Envoy verifies an upstream only against its validation context
		// (trusted CA and SAN matchers), never the SNI: VerifyConnection
		// does that, with the current trust.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs cryptotls.ConnectionState) error {
			return c.val.verify(cs, false, false)
		},
		GetClientCertificate: func(*cryptotls.CertificateRequestInfo) (*cryptotls.Certificate, error) {
			if len(c.certs) > 0 {
				if kp := c.certs[0].current(); kp != nil {
					return &kp.cert, nil
				}
			}
			return &cryptotls.Certificate{}, nil // none: the server decides
		},
		ClientSessionCache: cache,
	}
	cl.configs[""] = base
	if len(c.alpn) == 0 {
		for _, alpn := range [][]string{ALPNHTTP2, ALPNHTTP1, ALPNAuto} {
			cfg := base.Clone()
			cfg.NextProtos = alpn
			cl.configs[strings.Join(alpn, ",")] = cfg
		}
	}
	r.track(cl.mat)
	return cl, nil
}

// ALPN is the configured alpn_protocols (empty: the pool's default).
func (c *Client) ALPN() []string { return c.c.alpn }

// SNI is the configured sni.
func (c *Client) SNI() string { return c.sni }

// Handshake runs the client side of the handshake on conn, offering
// alpn unless alpn_protocols is configured, within ctx. On failure the
// error is a *HandshakeError and conn is left for the caller to close.
func (c *Client) Handshake(ctx context.Context, conn net.Conn, alpn []string) (net.Conn, *streaminfo.TLS, error) {
	cfg := c.configs[""]
	if len(c.c.alpn) == 0 && len(alpn) > 0 {
		if v, ok := c.configs[strings.Join(alpn, ",")]; ok {
			cfg = v
		} else {
			cfg = cfg.Clone()
			cfg.NextProtos = alpn
		}
	}
	tc := cryptotls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		he := classify(err)
		c.st.failed(he)
		return nil, nil, he
	}
	cs := tc.ConnectionState()
	c.st.succeeded(&cs)
	return tc, describe(&cs, c.c), nil
}
