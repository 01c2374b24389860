package tls

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/outrider-mesh/outrider/proxy/config"
)

var protoUnmarshal = proto.UnmarshalOptions{}

// Type URLs of the transport socket configs.
const (
	DownstreamTLSContextURL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
	UpstreamTLSContextURL   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
	// ExtensionName is the transport socket's name in Envoy configs.
	ExtensionName = "envoy.transport_sockets.tls"
)

// decodeSocket unpacks a transport_socket's typed_config into msg, which
// must be of type wantURL.
func decodeSocket(ts *corev3.TransportSocket, wantURL string, msg proto.Message, p config.Path, errs *config.Errors) bool {
	rejectUnhandled(errs, ts, p, "name", "typed_config")
	tc := ts.GetTypedConfig()
	if tc == nil {
		errs.Addf(p.Field("typed_config"), "tls: typed_config is required")
		return false
	}
	if tc.GetTypeUrl() != wantURL {
		errs.Addf(p.Field("typed_config"), "tls: transport socket %s is not supported here (want %s)", tc.GetTypeUrl(), wantURL)
		return false
	}
	if err := anypb.UnmarshalTo(tc, msg, protoUnmarshal); err != nil {
		errs.Addf(p.Field("typed_config"), "tls: %w", err)
		return false
	}
	return true
}

// common is a translated CommonTlsContext.
type common struct {
	params params
	alpn   []string
	certs  []certSource
	val    *validation
}

func (r *Registry) translateCommon(pb *tlsv3.CommonTlsContext, server bool, p config.Path, errs *config.Errors) *common {
	out := &common{}
	rejectUnhandled(errs, pb, p, "tls_params", "tls_certificates", "tls_certificate_sds_secret_configs",
		"validation_context", "validation_context_sds_secret_config", "combined_validation_context", "alpn_protocols")
	out.params = translateParams(pb.GetTlsParams(), server, p.Field("tls_params"), errs)
	out.alpn = pb.GetAlpnProtocols()
	for i, a := range out.alpn {
		if a == "" || len(a) > 255 {
			errs.Addf(p.Field("alpn_protocols").Index(i), "tls: an ALPN protocol is 1 to 255 bytes")
		}
	}

	if len(pb.GetTlsCertificates()) > 0 && len(pb.GetTlsCertificateSdsSecretConfigs()) > 0 {
		errs.Addf(p.Field("tls_certificate_sds_secret_configs"), "tls: use either tls_certificates or tls_certificate_sds_secret_configs, not both")
	}
	for i, tc := range pb.GetTlsCertificates() {
		tp := p.Field("tls_certificates").Index(i)
		rejectUnhandled(errs, tc, tp, "certificate_chain", "private_key")
		checkDataSource(tc.GetCertificateChain(), tp.Field("certificate_chain"), errs)
		checkDataSource(tc.GetPrivateKey(), tp.Field("private_key"), errs)
		if tc.GetCertificateChain() == nil || tc.GetPrivateKey() == nil {
			continue
		}
		kp, err := loadKeyPair(tc)
		if err != nil {
			errs.Addf(tp, "tls: %w", err)
			continue
		}
		out.certs = append(out.certs, staticCert{kp})
	}
	for i, sc := range pb.GetTlsCertificateSdsSecretConfigs() {
		if s := r.sdsSource(sc, kindCertificate, p.Field("tls_certificate_sds_secret_configs").Index(i), errs); s != nil {
			out.certs = append(out.certs, s)
		}
	}
	if !server && len(out.certs) > 1 {
		errs.Addf(p.Field("tls_certificates"), "tls: a client presents one certificate, got %d", len(out.certs))
	}

	switch {
	case pb.GetValidationContext() != nil:
		vp := p.Field("validation_context")
		vc := pb.GetValidationContext()
		rejectUnhandled(errs, vc, vp, "trusted_ca", "match_typed_subject_alt_names", "match_subject_alt_names")
		out.val = &validation{sans: translateSANMatchers(vc, vp, errs)}
		if vc.GetTrustedCa() != nil {
			checkDataSource(vc.GetTrustedCa(), vp.Field("trusted_ca"), errs)
			tb, err := loadTrust(vc.GetTrustedCa())
			if err != nil {
				errs.Addf(vp.Field("trusted_ca"), "tls: %w", err)
			} else {
				out.val.trust = staticTrust{tb}
			}
		} else if len(out.val.sans) > 0 {
			errs.Addf(vp.Field("trusted_ca"), "tls: SAN-based verification of peer certificates without a trusted CA is insecure and not allowed")
		}
	case pb.GetValidationContextSdsSecretConfig() != nil:
		out.val = &validation{}
		if s := r.sdsSource(pb.GetValidationContextSdsSecretConfig(), kindValidation, p.Field("validation_context_sds_secret_config"), errs); s != nil {
			out.val.trust = s
		}
	case pb.GetCombinedValidationContext() != nil:
		cp := p.Field("combined_validation_context")
		cvc := pb.GetCombinedValidationContext()
		rejectUnhandled(errs, cvc, cp, "default_validation_context", "validation_context_sds_secret_config")
		dp := cp.Field("default_validation_context")
		rejectUnhandled(errs, cvc.GetDefaultValidationContext(), dp, "match_typed_subject_alt_names", "match_subject_alt_names")
		out.val = &validation{sans: translateSANMatchers(cvc.GetDefaultValidationContext(), dp, errs)}
		if s := r.sdsSource(cvc.GetValidationContextSdsSecretConfig(), kindValidation, cp.Field("validation_context_sds_secret_config"), errs); s != nil {
			out.val.trust = s
		}
	}
	if out.val != nil {
		out.val.now = time.Now
	}
	return out
}

// material returns what /certs lists for the context.
func (c *common) material() *material {
	m := &material{certs: c.certs}
	if c.val != nil && c.val.trust != nil {
		m.trust = c.val.trust
	}
	return m
}
