package tls

import (
	"context"
	cryptotls "crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/transport/tls/tlstest"
)

// pki is a test CA with files for one server and one client identity.
type pki struct {
	dir    string
	ca     *tlstest.CA
	server *tlstest.Leaf
	client *tlstest.Leaf
}

const (
	serverID = "spiffe://cluster.local/ns/default/sa/backend"
	clientID = "spiffe://cluster.local/ns/default/sa/frontend"
)

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca, err := tlstest.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: t.TempDir(), ca: ca}
	p.server = p.issue(t, tlstest.Options{CommonName: "backend", URIs: []string{serverID}, DNSNames: []string{"backend.default.svc"}})
	p.client = p.issue(t, tlstest.Options{CommonName: "frontend", URIs: []string{clientID}})
	p.write(t, "ca.pem", ca.CertPEM)
	p.write(t, "server.pem", p.server.CertPEM)
	p.write(t, "server.key", p.server.KeyPEM)
	p.write(t, "client.pem", p.client.CertPEM)
	p.write(t, "client.key", p.client.KeyPEM)
	return p
}

func (p *pki) issue(t *testing.T, o tlstest.Options) *tlstest.Leaf {
	t.Helper()
	l, err := p.ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (p *pki) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

func file(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

func (p *pki) cert(prefix string) *tlsv3.TlsCertificate {
	return &tlsv3.TlsCertificate{CertificateChain: file(p.path(prefix + ".pem")), PrivateKey: file(p.path(prefix + ".key"))}
}

func uriSAN(exact string) *tlsv3.SubjectAltNameMatcher {
	return &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_URI,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: exact}}}
}

// socket wraps a TLS context as a transport_socket.
func socket(t testing.TB, m proto.Message) *corev3.TransportSocket {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.TransportSocket{Name: ExtensionName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}
}

// mtlsServer is a DownstreamTlsContext requiring a client certificate
// from the test CA with clientID.
func (p *pki) mtlsServer() *tlsv3.DownstreamTlsContext {
	return &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapBool(true),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificates: []*tlsv3.TlsCertificate{p.cert("server")},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa:                 file(p.path("ca.pem")),
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{uriSAN(clientID)},
			}},
		},
	}
}

// mtlsClient is an UpstreamTlsContext presenting the client certificate
// and verifying serverID.
func (p *pki) mtlsClient() *tlsv3.UpstreamTlsContext {
	return &tlsv3.UpstreamTlsContext{
		Sni: "backend.default.svc",
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificates: []*tlsv3.TlsCertificate{p.cert("client")},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa:                 file(p.path("ca.pem")),
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{uriSAN(serverID)},
			}},
		},
	}
}

// serveTLS accepts connections on loopback and runs srv's handshake on
// each, echoing one line back on success. Results go to the returned
// channel. Everything stops at test cleanup.
func serveTLS(t *testing.T, srv *Server, timeout time.Duration, st *Stats) (addr string, results <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan error, 16)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc, _, err := srv.Handshake(context.Background(), c, timeout, st)
				out <- err
				if err != nil {
					return
				}
				defer tc.Close()
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 64)
				n, err := tc.Read(buf)
				if err == nil {
					tc.Write(buf[:n])
				}
			}()
		}
	}()
	return ln.Addr().String(), out
}

func newStats() *Stats { return NewStats(stats.NewStore().Root().Scope("listener").Scope("test")) }

func wrapBool(v bool) *wrapperspb.BoolValue { return wrapperspb.Bool(v) }

// dialTLS connects with cfg and exchanges one line, returning the first
// error.
func dialTLS(t *testing.T, addr string, cfg *cryptotls.Config) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := cryptotls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		return err
	}
	if _, err := tc.Write([]byte("ping")); err != nil {
		return err
	}
	// A close_notify right behind the echo comes back with it as
	// (4, io.EOF): the bytes are what counts.
	buf := make([]byte, 4)
	if n, err := io.ReadFull(tc, buf); n < len(buf) {
		return err
	}
	return nil
}
