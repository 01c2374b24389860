package tls

import (
	cryptotls "crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/transport/tls/tlstest"
)

func TestServerAcceptsOrRefusesClients(t *testing.T) {
	p := newPKI(t)
	other, err := tlstest.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	otherLeaf, err := other.Issue(tlstest.Options{URIs: []string{clientID}})
	if err != nil {
		t.Fatal(err)
	}
	wrongSAN := p.issue(t, tlstest.Options{URIs: []string{"spiffe://cluster.local/ns/default/sa/intruder"}})
	expired := p.issue(t, tlstest.Options{URIs: []string{clientID},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})

	reg := NewRegistry(nil, nil)
	srv, err := reg.TranslateDownstream(socket(t, p.mtlsServer()), "transport_socket")
	if err != nil {
		t.Fatal(err)
	}
	clientCfg := func(leaf *tlstest.Leaf) *cryptotls.Config {
		cfg := &cryptotls.Config{RootCAs: p.ca.Pool(), ServerName: "backend.default.svc", MaxVersion: cryptotls.VersionTLS12}
		if leaf != nil {
			cfg.Certificates = []cryptotls.Certificate{leaf.TLS()}
		}
		return cfg
	}
	tests := []struct {
		name     string
		client   *cryptotls.Config // nil: speak plain text
		stall    bool              // connect and send nothing
		wantKind FailureKind
		wantOK   bool
		stat     func(*Stats) *stats.Counter
		inError  string
	}{
		{name: "a client with the expected SPIFFE ID is accepted", client: clientCfg(p.client), wantOK: true,
			stat: func(s *Stats) *stats.Counter { return s.Handshake }},
		{name: "a client without a certificate is refused", client: clientCfg(nil), wantKind: FailNoCert,
			stat: func(s *Stats) *stats.Counter { return s.FailVerifyNoCert }, inError: "did not present a certificate"},
		{name: "a client certificate from another CA is refused", client: clientCfg(otherLeaf), wantKind: FailVerify,
			stat: func(s *Stats) *stats.Counter { return s.FailVerifyError }, inError: "not signed by a trusted CA"},
		{name: "a client with the wrong SAN is refused", client: clientCfg(wrongSAN), wantKind: FailSAN,
			stat: func(s *Stats) *stats.Counter { return s.FailVerifySAN }, inError: "sa/intruder"},
		{name: "an expired client certificate is refused", client: clientCfg(expired), wantKind: FailVerify,
			stat: func(s *Stats) *stats.Counter { return s.FailVerifyError }, inError: "expired at"},
		{name: "plain text to a TLS port is refused", wantKind: FailNotTLS,
			stat: func(s *Stats) *stats.Counter { return s.ConnectionError }, inError: "did not speak TLS"},
		{name: "a stalled handshake times out", stall: true, wantKind: FailTimeout,
			stat: func(s *Stats) *stats.Counter { return s.ConnectionError }, inError: "in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStats()
			addr, results := serveTLS(t, srv, 300*time.Millisecond, st)
			switch {
			case tt.stall:
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			case tt.client == nil:
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			default:
				err := dialTLS(t, addr, tt.client)
				if tt.wantOK && err != nil {
					t.Fatalf("client: %v", err)
				}
				if !tt.wantOK && err == nil {
					t.Fatalf("client: handshake and exchange succeeded, want a refusal")
				}
			}
			var err error
			select {
			case err = <-results:
			case <-time.After(5 * time.Second):
				t.Fatal("server handshake did not finish")
			}
			if tt.wantOK {
				if err != nil {
					t.Fatalf("server: %v", err)
				}
			} else {
				he, ok := IsHandshakeError(err)
				if !ok {
					t.Fatalf("server error %v is not a *HandshakeError", err)
				}
				if he.Kind != tt.wantKind {
					t.Errorf("kind = %d, want %d (%v)", he.Kind, tt.wantKind, he)
				}
				if !strings.Contains(he.Error(), tt.inError) {
					t.Errorf("error %q does not say %q", he.Error(), tt.inError)
				}
				if st.ConnectionError.Value() != 1 {
					t.Errorf("ssl.connection_error = %d, want 1", st.ConnectionError.Value())
				}
			}
			if got := tt.stat(st).Value(); got != 1 {
				t.Errorf("%s = %d, want 1", tt.stat(st).Name, got)
			}
		})
	}
}

func TestClientVerifiesTheServer(t *testing.T) {
	p := newPKI(t)
	impostor := p.issue(t, tlstest.Options{URIs: []string{"spiffe://cluster.local/ns/default/sa/impostor"}})
	tests := []struct {
		name     string
		leaf     *tlstest.Leaf
		wantKind FailureKind
		wantOK   bool
	}{
		{name: "the expected server identity is accepted", leaf: p.server, wantOK: true},
		{name: "a server with another identity is refused", leaf: impostor, wantKind: FailSAN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := cryptotls.Listen("tcp", "127.0.0.1:0", &cryptotls.Config{
				Certificates: []cryptotls.Certificate{tt.leaf.TLS()},
				ClientAuth:   cryptotls.RequireAndVerifyClientCert,
				ClientCAs:    p.ca.Pool(),
				NextProtos:   []string{"h2", "http/1.1"},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						c.(*cryptotls.Conn).Handshake()
						c.Close()
					}()
				}
			}()
			st := NewStats(stats.NewStore().Root().Scope("cluster").Scope("backend"))
			cl, err := NewRegistry(nil, nil).TranslateUpstream(socket(t, p.mtlsClient()), st, "transport_socket")
			if err != nil {
				t.Fatal(err)
			}
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			conn, info, err := cl.Handshake(t.Context(), raw, ALPNAuto)
			if tt.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if info.ALPN != "h2" || info.PeerURISANs[0] != serverID || info.LocalURISANs[0] != clientID || info.Version != "TLSv1.2" {
					t.Errorf("session = %+v, want h2 with %s, presenting %s, over TLSv1.2 (Envoy's client default)", info, serverID, clientID)
				}
				if st.Handshake.Value() != 1 {
					t.Errorf("ssl.handshake = %d, want 1", st.Handshake.Value())
				}
				return
			}
			he, ok := IsHandshakeError(err)
			if !ok || he.Kind != tt.wantKind {
				t.Fatalf("err = %v, want a handshake error of kind %d", err, tt.wantKind)
			}
			if !strings.HasPrefix(he.Reason(), "TLS_error:|CERTIFICATE_VERIFY_FAILED:") {
				t.Errorf("reason %q is not in Envoy's form", he.Reason())
			}
			if st.FailVerifySAN.Value() != 1 || st.ConnectionError.Value() != 1 {
				t.Errorf("fail_verify_san = %d, connection_error = %d, want 1 and 1", st.FailVerifySAN.Value(), st.ConnectionError.Value())
			}
		})
	}
}

var _ = config.Path("")
