package tls

import (
	"bufio"
	"context"
	cryptotls "crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/transport/tls/tlstest"
)

// sdsFile writes a file-based SDS DiscoveryResponse naming certDir's
// tls.crt and tls.key as secret "default", the way Istio-style configs do.
func sdsFile(t *testing.T, certDir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sds.yaml")
	body := fmt.Sprintf(`resources:
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: default
  tls_certificate:
    certificate_chain: {filename: %s/tls.crt}
    private_key: {filename: %s/tls.key}
    watched_directory: {path: %s}
`, certDir, certDir, certDir)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func sdsConfig(path, name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{Path: path}},
	}}
}

func TestSecretDirectorySwapRotatesTheServerCertificate(t *testing.T) {
	p := newPKI(t)
	first := p.issue(t, tlstest.Options{CommonName: "first", URIs: []string{serverID}})
	second := p.issue(t, tlstest.Options{CommonName: "second", URIs: []string{serverID}})
	secret := &tlstest.SecretDir{Dir: t.TempDir()}
	if err := secret.Update(map[string][]byte{"tls.crt": first.CertPEM, "tls.key": first.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	store := stats.NewStore()
	reg := NewRegistry(nil, store)
	t.Cleanup(reg.Close)
	srv, err := reg.TranslateDownstream(socket(t, &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsConfig(sdsFile(t, secret.Dir), "default")},
	}}), "transport_socket")
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, srv)
	cfg := &cryptotls.Config{RootCAs: p.ca.Pool(), ServerName: "ignored", InsecureSkipVerify: true}

	// A long-lived connection made with the first certificate.
	long := dialEcho(t, addr, cfg)
	if got := long.peer(); got != "first" {
		t.Fatalf("first connection sees %q, want the first certificate", got)
	}

	if err := secret.Update(map[string][]byte{"tls.crt": second.CertPEM, "tls.key": second.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialEcho(t, addr, cfg)
		got := c.peer()
		c.Close()
		if got == "second" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new connections still see %q after the ..data swap", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := long.roundTrip("still here"); err != nil {
		t.Errorf("the connection made before the rotation broke: %v", err)
	}
	certs := reg.Certificates(time.Now()).GetCertificates()
	if len(certs) != 1 || certs[0].GetCertChain()[0].GetSerialNumber() != second.Cert.SerialNumber.Text(16) {
		t.Errorf("/certs does not show the new certificate: %v", certs)
	}
	if v := store.Root().Scope("sds").Scope("default").Counter("update_success").Value(); v < 1 {
		t.Errorf("sds.default.update_success = %d, want at least 1", v)
	}
}

func TestAnUnreadableSecretKeepsThePreviousCertificate(t *testing.T) {
	p := newPKI(t)
	secret := &tlstest.SecretDir{Dir: t.TempDir()}
	if err := secret.Update(map[string][]byte{"tls.crt": p.server.CertPEM, "tls.key": p.server.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	store := stats.NewStore()
	reg := NewRegistry(nil, store)
	t.Cleanup(reg.Close)
	src, err := reg.secret(sdsKey{path: sdsFile(t, secret.Dir), name: "default", kind: kindCertificate})
	if err != nil {
		t.Fatal(err)
	}
	before := src.current()
	// A key that does not belong to the certificate.
	if err := secret.Update(map[string][]byte{"tls.crt": p.server.CertPEM, "tls.key": p.client.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	rejected := store.Root().Scope("sds").Scope("default").Counter("update_rejected")
	deadline := time.Now().Add(10 * time.Second)
	for rejected.Value() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the bad update was never tried")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if src.current() != before {
		t.Error("a mismatched key pair replaced the working certificate")
	}
}

type echoConn struct {
	*cryptotls.Conn
	r *bufio.Reader
}

func (c *echoConn) peer() string { return c.ConnectionState().PeerCertificates[0].Subject.CommonName }

func (c *echoConn) roundTrip(line string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return err
	}
	got, err := c.r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(got) != line {
		return fmt.Errorf("echo %q, want %q", got, line)
	}
	return nil
}

func dialEcho(t *testing.T, addr string, cfg *cryptotls.Config) *echoConn {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc := cryptotls.Client(raw, cfg)
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		raw.Close()
		t.Fatal(err)
	}
	c := &echoConn{Conn: tc, r: bufio.NewReader(tc)}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoServer terminates TLS with srv and echoes lines until the peer
// closes or the test ends.
func echoServer(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				stop := context.AfterFunc(ctx, func() { c.Close() })
				defer stop()
				tc, _, err := srv.Handshake(ctx, c, 5*time.Second, nil)
				if err != nil {
					return
				}
				r := bufio.NewReader(tc)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					tc.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestASecretNoContextUsesStopsWatching(t *testing.T) {
	p := newPKI(t)
	secret := &tlstest.SecretDir{Dir: t.TempDir()}
	if err := secret.Update(map[string][]byte{"tls.crt": p.server.CertPEM, "tls.key": p.server.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(nil, nil)
	t.Cleanup(reg.Close)
	s, err := reg.secret(sdsKey{path: sdsFile(t, secret.Dir), name: "default", kind: kindCertificate})
	if err != nil {
		t.Fatal(err)
	}
	done := s.done
	s = nil // the last context using it is gone
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher of an unused secret is still running")
		}
	}
}
