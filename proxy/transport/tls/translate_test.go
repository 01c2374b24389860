package tls

import (
	"errors"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/outrider-mesh/outrider/proxy/config"
)

func TestTranslationRejectsWhatIsNotImplementedWithItsPath(t *testing.T) {
	p := newPKI(t)
	const ctx = "transport_socket.typed_config."
	server := func(edit func(*tlsv3.DownstreamTlsContext)) proto.Message {
		pb := p.mtlsServer()
		edit(pb)
		return pb
	}
	client := func(edit func(*tlsv3.UpstreamTlsContext)) proto.Message {
		pb := p.mtlsClient()
		edit(pb)
		return pb
	}
	vc := func(pb *tlsv3.DownstreamTlsContext) *tlsv3.CertificateValidationContext {
		return pb.CommonTlsContext.GetValidationContext()
	}
	tests := []struct {
		name      string
		upstream  bool
		cfg       proto.Message
		wantPaths map[string]string // path → words in its message
	}{
		{
			name: "an unknown cipher suite is named by its index",
			cfg: server(func(pb *tlsv3.DownstreamTlsContext) {
				pb.CommonTlsContext.TlsParams = &tlsv3.TlsParameters{CipherSuites: []string{"[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-RSA-AES128-GCM-SHA256]", "RC4-MD5"}}
			}),
			wantPaths: map[string]string{ctx + "common_tls_context.tls_params.cipher_suites[1]": `unknown or unsupported cipher suite "RC4-MD5"`},
		},
		{
			name: "a TLS 1.3 cipher suite cannot be chosen",
			cfg: server(func(pb *tlsv3.DownstreamTlsContext) {
				pb.CommonTlsContext.TlsParams = &tlsv3.TlsParameters{CipherSuites: []string{"TLS_AES_128_GCM_SHA256"}}
			}),
			wantPaths: map[string]string{ctx + "common_tls_context.tls_params.cipher_suites[0]": "not configurable"},
		},
		{
			name: "a minimum version above the maximum is refused",
			cfg: server(func(pb *tlsv3.DownstreamTlsContext) {
				pb.CommonTlsContext.TlsParams = &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_2}
			}),
			wantPaths: map[string]string{ctx + "common_tls_context.tls_params.tls_minimum_protocol_version": "above the maximum"},
		},
		{
			name: "SAN matching without a trusted CA is refused as Envoy refuses it",
			cfg: server(func(pb *tlsv3.DownstreamTlsContext) {
				vc(pb).TrustedCa = nil
			}),
			wantPaths: map[string]string{ctx + "common_tls_context.validation_context.trusted_ca": "insecure"},
		},
		{
			name: "a missing certificate file is reported at its certificate",
			cfg: server(func(pb *tlsv3.DownstreamTlsContext) {
				pb.CommonTlsContext.TlsCertificates[0].CertificateChain = file(p.path("nope.pem"))
			}),
			wantPaths: map[string]string{ctx + "common_tls_context.tls_certificates[0]": "nope.pem"},
		},
		{
			name: "an unimplemented field is rejected, and every problem is reported at once",
			cfg: server(func(pb *tlsv3.DownstreamTlsContext) {
				pb.SessionTimeout = durationpb.New(0)
				pb.CommonTlsContext.TlsParams = &tlsv3.TlsParameters{EcdhCurves: []string{"brainpool"}}
				vc(pb).MatchTypedSubjectAltNames[0].SanType = tlsv3.SubjectAltNameMatcher_OTHER_NAME
				vc(pb).AllowExpiredCertificate = true
			}),
			wantPaths: map[string]string{
				ctx + "session_timeout":                                                                 "not supported",
				ctx + "common_tls_context.tls_params.ecdh_curves[0]":                                    "brainpool",
				ctx + "common_tls_context.validation_context.allow_expired_certificate":                 "not supported",
				ctx + "common_tls_context.validation_context.match_typed_subject_alt_names[0].san_type": "OTHER_NAME",
			},
		},
		{
			name: "a server needs a certificate",
			cfg: server(func(pb *tlsv3.DownstreamTlsContext) {
				pb.CommonTlsContext.TlsCertificates = nil
			}),
			wantPaths: map[string]string{ctx + "common_tls_context": "needs a certificate"},
		},
		{
			name: "SDS from a management server is not supported",
			cfg: server(func(pb *tlsv3.DownstreamTlsContext) {
				pb.CommonTlsContext.TlsCertificates = nil
				pb.CommonTlsContext.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{{Name: "default",
					SdsConfig: &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3, ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}}}
			}),
			wantPaths: map[string]string{ctx + "common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.ads": "not supported"},
		},
		{
			name: "an SDS secret named nowhere in the file is reported at the file's path",
			cfg: server(func(pb *tlsv3.DownstreamTlsContext) {
				pb.CommonTlsContext.TlsCertificates = nil
				pb.CommonTlsContext.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsConfig(sdsFile(t, p.dir), "other")}
			}),
			wantPaths: map[string]string{ctx + "common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.path_config_source.path": `no secret named "other"`},
		},
		{
			name: "a static secret reference says static secrets are not supported yet",
			cfg: server(func(pb *tlsv3.DownstreamTlsContext) {
				pb.CommonTlsContext.TlsCertificates = nil
				pb.CommonTlsContext.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{{Name: "default"}}
			}),
			wantPaths: map[string]string{ctx + "common_tls_context.tls_certificate_sds_secret_configs[0].sds_config": "static_resources.secrets"},
		},
		{
			name:     "a client presents one certificate",
			upstream: true,
			cfg: client(func(pb *tlsv3.UpstreamTlsContext) {
				pb.CommonTlsContext.TlsCertificates = append(pb.CommonTlsContext.TlsCertificates, p.cert("server"))
			}),
			wantPaths: map[string]string{ctx + "common_tls_context.tls_certificates": "one certificate"},
		},
		{
			name:      "an upstream context on a listener is refused",
			cfg:       p.mtlsClient(),
			wantPaths: map[string]string{"transport_socket.typed_config": "UpstreamTlsContext is not supported here"},
		},
		{
			name:     "auto SNI is not supported",
			upstream: true,
			cfg: client(func(pb *tlsv3.UpstreamTlsContext) {
				pb.AutoHostSni = true
				pb.MaxSessionKeys = wrapperspb.UInt32(0)
			}),
			wantPaths: map[string]string{ctx + "auto_host_sni": "not supported"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := NewRegistry(nil, nil)
			defer reg.Close()
			var err error
			if tt.upstream {
				_, err = reg.TranslateUpstream(socket(t, tt.cfg), nil, "transport_socket")
			} else {
				_, err = reg.TranslateDownstream(socket(t, tt.cfg), "transport_socket")
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want config.Errors", err)
			}
			got := map[string]string{}
			for _, fe := range errs {
				got[string(fe.Path)] = fe.Err.Error()
			}
			for path, words := range tt.wantPaths {
				msg, ok := got[path]
				if !ok {
					t.Errorf("no error at %s; got:\n%v", path, err)
					continue
				}
				if !strings.Contains(msg, words) || !strings.HasPrefix(msg, "tls: ") {
					t.Errorf("%s: %q, want a tls: message saying %q", path, msg, words)
				}
			}
			if len(errs) != len(tt.wantPaths) {
				t.Errorf("got %d problems, want %d:\n%v", len(errs), len(tt.wantPaths), err)
			}
		})
	}
}

func TestAFullConfigurationTranslates(t *testing.T) {
	p := newPKI(t)
	pb := p.mtlsServer()
	pb.RequireSni = wrapperspb.Bool(true)
	pb.CommonTlsContext.AlpnProtocols = []string{"h2", "http/1.1"}
	pb.CommonTlsContext.TlsParams = &tlsv3.TlsParameters{
		TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2,
		TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
		CipherSuites:              []string{"[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]", "ECDHE-RSA-AES256-GCM-SHA384"},
		EcdhCurves:                []string{"X25519", "P-256"},
	}
	reg := NewRegistry(nil, nil)
	srv, err := reg.TranslateDownstream(socket(t, pb), "transport_socket")
	if err != nil {
		t.Fatal(err)
	}
	cfg := srv.cfg
	if len(cfg.CipherSuites) != 3 || len(cfg.CurvePreferences) != 2 || cfg.MinVersion != 0x0303 || cfg.MaxVersion != 0x0304 {
		t.Errorf("params = ciphers %v curves %v versions %x-%x", cfg.CipherSuites, cfg.CurvePreferences, cfg.MinVersion, cfg.MaxVersion)
	}
	if got := strings.Join(srv.ALPN(), ","); got != "h2,http/1.1" {
		t.Errorf("ALPN = %s", got)
	}
}
