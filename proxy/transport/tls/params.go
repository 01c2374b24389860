package tls

import (
	cryptotls "crypto/tls"
	"strings"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// params are the translated tls_params of a context.
type params struct {
	minVersion, maxVersion uint16
	ciphers                []uint16 // nil: Go's defaults (Envoy's defaults are the same families)
	curves                 []cryptotls.CurveID
}

// Envoy's protocol version defaults: servers accept TLS 1.2 and 1.3;
// clients offer up to TLS 1.2 unless told otherwise.
const (
	defaultMin       = cryptotls.VersionTLS12
	defaultServerMax = cryptotls.VersionTLS13
	defaultClientMax = cryptotls.VersionTLS12
)

var protocolVersions = map[tlsv3.TlsParameters_TlsProtocol]uint16{
	tlsv3.TlsParameters_TLSv1_0: cryptotls.VersionTLS10,
	tlsv3.TlsParameters_TLSv1_1: cryptotls.VersionTLS11,
	tlsv3.TlsParameters_TLSv1_2: cryptotls.VersionTLS12,
	tlsv3.TlsParameters_TLSv1_3: cryptotls.VersionTLS13,
}

func translateParams(pb *tlsv3.TlsParameters, server bool, p config.Path, errs *config.Errors) params {
	out := params{minVersion: defaultMin, maxVersion: defaultClientMax}
	if server {
		out.maxVersion = defaultServerMax
	}
	if pb == nil {
		return out
	}
	rejectUnhandled(errs, pb, p, "tls_minimum_protocol_version", "tls_maximum_protocol_version", "cipher_suites", "ecdh_curves")
	if v := pb.GetTlsMinimumProtocolVersion(); v != tlsv3.TlsParameters_TLS_AUTO {
		out.minVersion = protocolVersions[v]
	}
	if v := pb.GetTlsMaximumProtocolVersion(); v != tlsv3.TlsParameters_TLS_AUTO {
		out.maxVersion = protocolVersions[v]
	}
	if out.minVersion > out.maxVersion {
		errs.Addf(p.Field("tls_minimum_protocol_version"), "tls: minimum version %s is above the maximum %s",
			versionName(out.minVersion), versionName(out.maxVersion))
	}
	for i, entry := range pb.GetCipherSuites() {
		// "[A|B]" is BoringSSL's equal-preference group; Go orders suites
		// itself, so a group is just its members.
		for name := range strings.SplitSeq(strings.Trim(entry, "[]"), "|") {
			id, ok := cipherIDs[name]
			switch {
			case ok:
				out.ciphers = append(out.ciphers, id)
			case tls13Ciphers[name]:
				errs.Addf(p.Field("cipher_suites").Index(i), "tls: %s is a TLS 1.3 cipher suite, which is not configurable (all are enabled)", name)
			default:
				errs.Addf(p.Field("cipher_suites").Index(i), "tls: unknown or unsupported cipher suite %q", name)
			}
		}
	}
	for i, name := range pb.GetEcdhCurves() {
		id, ok := curveIDs[name]
		if !ok {
			errs.Addf(p.Field("ecdh_curves").Index(i), "tls: unsupported curve %q (supported: X25519, P-256, P-384, P-521, X25519MLKEM768)", name)
			continue
		}
		out.curves = append(out.curves, id)
	}
	return out
}

// versionName is Envoy's name of a TLS version (ssl.versions.<name>,
// %DOWNSTREAM_TLS_VERSION%).
func versionName(v uint16) string {
	switch v {
	case cryptotls.VersionTLS10:
		return "TLSv1"
	case cryptotls.VersionTLS11:
		return "TLSv1.1"
	case cryptotls.VersionTLS12:
		return "TLSv1.2"
	case cryptotls.VersionTLS13:
		return "TLSv1.3"
	}
	return "unknown"
}

// cipherIDs maps OpenSSL/BoringSSL names, which Envoy configs use, to
// Go's TLS 1.0–1.2 suites. Go's insecure suites (RC4, 3DES, CBC-SHA256)
// are left out.
var cipherIDs = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": cryptotls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   cryptotls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": cryptotls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   cryptotls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": cryptotls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   cryptotls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        cryptotls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          cryptotls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        cryptotls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          cryptotls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             cryptotls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             cryptotls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    cryptotls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    cryptotls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

var tls13Ciphers = map[string]bool{
	"TLS_AES_128_GCM_SHA256":       true,
	"TLS_AES_256_GCM_SHA384":       true,
	"TLS_CHACHA20_POLY1305_SHA256": true,
}

// cipherNames is cipherIDs reversed, plus the TLS 1.3 suites, for stats
// and access logs.
var cipherNames = func() map[uint16]string {
	m := map[uint16]string{
		cryptotls.TLS_AES_128_GCM_SHA256:       "TLS_AES_128_GCM_SHA256",
		cryptotls.TLS_AES_256_GCM_SHA384:       "TLS_AES_256_GCM_SHA384",
		cryptotls.TLS_CHACHA20_POLY1305_SHA256: "TLS_CHACHA20_POLY1305_SHA256",
	}
	for name, id := range cipherIDs {
		m[id] = name
	}
	return m
}()

func cipherName(id uint16) string {
	if n, ok := cipherNames[id]; ok {
		return n
	}
	return cryptotls.CipherSuiteName(id)
}

var curveIDs = map[string]cryptotls.CurveID{
	"X25519":         cryptotls.X25519,
	"P-256":          cryptotls.CurveP256,
	"P-384":          cryptotls.CurveP384,
	"P-521":          cryptotls.CurveP521,
	"X25519MLKEM768": cryptotls.X25519MLKEM768,
}

// curveName is BoringSSL's name of a key exchange group (ssl.curves.<name>).
func curveName(id cryptotls.CurveID) string {
	for name, c := range curveIDs {
		if c == id {
			return name
		}
	}
	return id.String()
}
