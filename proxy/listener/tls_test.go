package listener

import (
	cryptotls "crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/transport/tls/tlstest"
)

func inline(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

// tlsChain terminates TLS with leaf and proxies the plaintext to cluster.
func tlsChain(t *testing.T, leaf *tlstest.Leaf, cluster string) *listenerv3.FilterChain {
	fc := tcpChain(t, cluster, time.Hour)
	fc.Name = "terminate"
	fc.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{
		TypedConfig: anyOf(t, &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificates: []*tlsv3.TlsCertificate{{CertificateChain: inline(leaf.CertPEM), PrivateKey: inline(leaf.KeyPEM)}},
		}}),
	}}
	return fc
}

func TestATLSChainTerminatesAndHalfClosesThroughTCPProxy(t *testing.T) {
	ca, err := tlstest.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(tlstest.Options{CommonName: "listener", DNSNames: []string{"svc.local"}})
	if err != nil {
		t.Fatal(err)
	}
	m, store := newManager(t, backends{"echo": serve(t, echo)})
	l := tcpListener(t, "tls", "echo")
	l.FilterChains = []*listenerv3.FilterChain{tlsChain(t, leaf, "echo")}
	apply(t, m, l)

	raw, err := net.DialTimeout("tcp", addr(t, m, "tls"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := cryptotls.Client(raw, &cryptotls.Config{RootCAs: ca.Pool(), ServerName: "svc.local"})
	if _, err := c.Write([]byte("through TLS")); err != nil {
		t.Fatal(err)
	}
	// close_notify plus FIN: the echo server sees EOF and closes, which
	// comes back as the end of the TLS stream.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "through TLS" {
		t.Fatalf("got %q, %v; want the echo and a clean end", got, err)
	}
	if v := counter(store, "listener."+strings.ReplaceAll(addr(t, m, "tls"), ":", "_")+".ssl.handshake"); v != 1 {
		t.Errorf("ssl.handshake = %d, want 1", v)
	}
}

func TestTransportSocketErrorsNameTheirPath(t *testing.T) {
	ca, _ := tlstest.NewCA("ca")
	leaf, _ := ca.Issue(tlstest.Options{})
	m, _ := newManager(t, backends{})
	bad := tlsChain(t, leaf, "echo")
	bad.TransportSocket.GetTypedConfig().Value = nil // an empty DownstreamTlsContext: no certificate
	stray := tcpChain(t, "echo", time.Hour)
	stray.TransportSocketConnectTimeout = durationpb.New(time.Second)
	stray.FilterChainMatch = &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(443)}
	l := tcpListener(t, "tls", "echo")
	l.FilterChains = []*listenerv3.FilterChain{bad, stray}
	err := m.Apply([]*listenerv3.Listener{l}, "static_resources.listeners")
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want config.Errors", err)
	}
	want := []string{
		"static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context: tls: a server needs a certificate",
		"static_resources.listeners[0].filter_chains[1].transport_socket_connect_timeout: listener: only meaningful with a transport_socket",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q:\n%v", w, err)
		}
	}
}
