package upstream_test

import (
	"context"
	cryptotls "crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
	"github.com/outrider-mesh/outrider/proxy/transport/tls"
	"github.com/outrider-mesh/outrider/proxy/transport/tls/tlstest"
	"github.com/outrider-mesh/outrider/proxy/upstream"
)

// tlsServer serves h over TLS offering alpn, counting connections.
func tlsServer(t *testing.T, leaf *tlstest.Leaf, alpn []string, h http.HandlerFunc) (string, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = len(alpn) > 0 && alpn[0] == "h2"
	srv.TLS = &cryptotls.Config{Certificates: []cryptotls.Certificate{leaf.TLS()}, NextProtos: alpn}
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), &conns
}

func tlsClient(t *testing.T, ca *tlstest.CA) *tls.Client {
	t.Helper()
	a, err := anypb.New(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: ca.CertPEM}},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.NewRegistry(nil, nil).TranslateUpstream(&corev3.TransportSocket{Name: tls.ExtensionName,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil, "transport_socket")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAutoConfigSpeaksWhatALPNChose(t *testing.T) {
	ca, err := tlstest.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(tlstest.Options{DNSNames: []string{"backend"}})
	if err != nil {
		t.Fatal(err)
	}
	sawProto := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }
	tests := []struct {
		name     string
		alpn     []string
		protocol upstream.Protocol
		want     string
	}{
		{name: "an endpoint that agrees to h2 is spoken to in HTTP/2, on one connection", alpn: []string{"h2", "http/1.1"}, protocol: upstream.Auto, want: "HTTP/2.0"},
		{name: "an endpoint that knows only HTTP/1.1 is spoken to in HTTP/1.1", alpn: []string{"http/1.1"}, protocol: upstream.Auto, want: "HTTP/1.1"},
		{name: "an endpoint without ALPN is spoken to in HTTP/1.1", protocol: upstream.Auto, want: "HTTP/1.1"},
		{name: "an explicit HTTP/2 cluster offers h2", alpn: []string{"h2"}, protocol: upstream.HTTP2, want: "HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, conns := tlsServer(t, leaf, tt.alpn, sawProto)
			st := upstream.NewStats(stats.ClusterScope(stats.NewStore(), "tls"))
			d := &upstream.Dialer{Timeout: time.Second, Stats: st, TLS: tlsClient(t, ca)}
			p := upstream.NewPool(netip.MustParseAddrPort(addr), d, &upstream.Options{Protocol: tt.protocol}, upstream.Limits{}, nil)
			t.Cleanup(p.Drain)
			for i := range 3 {
				info := &streaminfo.Info{}
				ctx, cancel := context.WithTimeout(streaminfo.With(context.Background(), info), 10*time.Second)
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
				resp, err := p.RoundTrip(req)
				if err != nil {
					cancel()
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				cancel()
				if string(body) != tt.want {
					t.Fatalf("request %d reached the server as %s, want %s", i, body, tt.want)
				}
				if info.UpstreamTLS == nil || info.UpstreamTLS.Version == "" {
					t.Errorf("request %d: no upstream TLS session recorded", i)
				}
			}
			if tt.want == "HTTP/2.0" && conns.Load() != 1 {
				t.Errorf("%d connections, want the learning connection reused for all", conns.Load())
			}
		})
	}
}

func TestAFailedUpstreamHandshakeIsAConnectFailureWithItsReason(t *testing.T) {
	ca, _ := tlstest.NewCA("ca")
	other, _ := tlstest.NewCA("other")
	leaf, err := other.Issue(tlstest.Options{DNSNames: []string{"backend"}})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := tlsServer(t, leaf, []string{"h2"}, func(w http.ResponseWriter, r *http.Request) {})
	st := upstream.NewStats(stats.ClusterScope(stats.NewStore(), "tls"))
	d := &upstream.Dialer{Timeout: time.Second, Stats: st, TLS: tlsClient(t, ca)}
	p := upstream.NewPool(netip.MustParseAddrPort(addr), d, &upstream.Options{Protocol: upstream.Auto}, upstream.Limits{}, nil)
	t.Cleanup(p.Drain)
	info := &streaminfo.Info{}
	req, _ := http.NewRequestWithContext(streaminfo.With(context.Background(), info), "GET", "http://"+addr+"/", nil)
	_, err = p.RoundTrip(req)
	if _, flags, _ := failure.Reply(err); flags != failure.UpstreamConnectionFailure {
		t.Fatalf("err = %v (flags %v), want a connect failure (UF)", err, flags)
	}
	if !strings.HasPrefix(info.UpstreamTransportFailureReason, "TLS_error:|CERTIFICATE_VERIFY_FAILED:") {
		t.Errorf("transport failure reason = %q", info.UpstreamTransportFailureReason)
	}
	if st.CxConnectFail.Value() != 1 || st.CxActive.Value() != 0 {
		t.Errorf("upstream_cx_connect_fail = %d, upstream_cx_active = %d, want 1 and 0", st.CxConnectFail.Value(), st.CxActive.Value())
	}
}
