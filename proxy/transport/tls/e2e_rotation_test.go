package tls_test

import (
	cryptotls "crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/proxy/transport/tls/tlstest"
)

func TestSecretSwapRotatesTheCertificateWithoutDroppingConnections(t *testing.T) {
	p := startPair(t)
	bAddr := p.b.addr(t, "main")
	if got := servedCertificate(t, bAddr, p.m.clientConfig(p.frontend)); got != "backend-1" {
		t.Fatalf("B presents %q before the rotation, want backend-1", got)
	}
	// A long-lived gRPC stream through both proxies, on a connection A
	// opened to B with the first certificate.
	stream, done := openStream(t, p.a.addr(t, "main"))
	defer done()
	echo(t, stream, "before the rotation")

	next := p.m.issue(tlstest.Options{CommonName: "backend-2", URIs: []string{backendID}})
	if err := p.secret.Update(map[string][]byte{"tls.crt": next.CertPEM, "tls.key": next.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new connections to present the new certificate", func() bool {
		return servedCertificate(t, bAddr, p.m.clientConfig(p.frontend)) == "backend-2"
	})
	for _, msg := range []string{"after the rotation", "and still"} {
		echo(t, stream, msg)
	}
	finish(t, stream)
}

// servedCertificate returns the common name of the certificate the TLS
// server at addr presents.
func servedCertificate(t *testing.T, addr string, cfg *cryptotls.Config) string {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	c := cryptotls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake with %s: %v", addr, err)
	}
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestTLSPassthroughBySNIReachesTheServerUntouched(t *testing.T) {
	p := startPair(t)
	sni := p.b.addr(t, "sni")
	cfg := &cryptotls.Config{RootCAs: p.m.ca.Pool(), ServerName: "passthrough.example.com"}
	raw, err := net.DialTimeout("tcp", sni, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	c := cryptotls.Client(raw, cfg)
	if _, err := c.Write([]byte("end to end")); err != nil {
		t.Fatalf("through the passthrough chain: %v", err)
	}
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "external" {
		t.Errorf("the client's TLS peer is %q, want the external server itself", cn)
	}
	got := make([]byte, len("end to end"))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "end to end" {
		t.Errorf("echo %q, %v", got, err)
	}
	if v := p.b.counter(".ssl.handshake"); v != 0 {
		t.Errorf("B terminated TLS on the passthrough listener (ssl.handshake = %d)", v)
	}

	t.Run("another server name matches no chain and is closed", func(t *testing.T) {
		cfg := &cryptotls.Config{RootCAs: p.m.ca.Pool(), ServerName: "elsewhere.example.com"}
		raw, err := net.DialTimeout("tcp", sni, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		raw.SetDeadline(time.Now().Add(5 * time.Second))
		if err := cryptotls.Client(raw, cfg).Handshake(); err == nil {
			t.Fatal("handshake succeeded with a server name no chain serves")
		}
		if v := p.b.counter("no_filter_chain_match"); v < 1 {
			t.Errorf("no_filter_chain_match = %d", v)
		}
	})
}
