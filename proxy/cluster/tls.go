package cluster

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/transport/tls"
	"github.com/outrider-mesh/outrider/proxy/upstream"
)

// SetTLSRegistry makes r hold the SDS secrets and the /certs entries of
// the clusters' transport sockets. Without it, tls.Default() is used.
// Call it before the first Update.
func (m *Manager) SetTLSRegistry(r *tls.Registry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tlsReg = r
}

func (m *Manager) registry() *tls.Registry {
	if m.tlsReg == nil {
		return tls.Default()
	}
	return m.tlsReg
}

// translateTLS translates the cluster's transport_socket (an
// UpstreamTlsContext) into s.tls, whose handshakes are counted in the
// cluster's ssl.* stats in store.
func translateTLS(pb *clusterv3.Cluster, s *settings, reg *tls.Registry, store *stats.Store, p config.Path, errs *config.Errors) {
	ts := pb.GetTransportSocket()
	if ts == nil {
		if s.http.Protocol == upstream.Auto {
			errs.Addf(p.Field("typed_extension_protocol_options").Key(HTTPProtocolOptionsKey).Field("auto_config"),
				"cluster: auto_config chooses the protocol by ALPN and needs a TLS transport_socket")
		}
		return
	}
	// own: s.statName still points into the proto.
	st := tls.NewStats(stats.ClusterScope(store, own(s.statName)))
	c, err := reg.TranslateUpstream(ts, st, p.Field("transport_socket"))
	if err != nil {
		errs.Add(p.Field("transport_socket"), err)
		return
	}
	s.tls = c
}

// translateAutoConfig is HttpProtocolOptions.auto_config: HTTP/2 when the
// endpoint's ALPN says h2, HTTP/1.1 otherwise.
func translateAutoConfig(a *httpv3.HttpProtocolOptions_AutoHttpConfig, out *upstream.Options, p config.Path, errs *config.Errors) {
	rejectUnsupported(errs, a, p, "http_protocol_options", "http2_protocol_options")
	if h1 := a.GetHttpProtocolOptions(); h1 != nil {
		// Applies when ALPN chooses HTTP/1.1.
		translateHTTP1Options(h1, out, p.Field("http_protocol_options"), errs)
	}
	if h2 := a.GetHttp2ProtocolOptions(); h2 != nil {
		rejectUnsupported(errs, h2, p.Field("http2_protocol_options"))
	}
	out.Protocol = upstream.Auto
}
