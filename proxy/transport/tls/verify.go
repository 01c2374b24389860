package tls

import (
	cryptotls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// validation is a translated validation context: where the trusted CA
// comes from and which peer SANs are accepted. A nil *validation, or one
// without trust, accepts any peer certificate, as Envoy does without a
// trusted_ca.
type validation struct {
	trust trustSource
	sans  []sanMatcher
	// now is the clock certificates are checked against; tests move it.
	now func() time.Time
}

// FailureKind classifies a failed handshake; each kind has its ssl.* stat.
type FailureKind uint8

const (
	// FailHandshake is any other failure: a protocol error, no shared
	// version or cipher, the peer closing (ssl.connection_error only).
	FailHandshake FailureKind = iota
	// FailNoCert: a certificate was required and the peer sent none
	// (ssl.fail_verify_no_cert).
	FailNoCert
	// FailVerify: the peer's chain does not verify: another CA, expired,
	// not yet valid, wrong key usage (ssl.fail_verify_error).
	FailVerify
	// FailSAN: the chain verifies but no SAN matcher accepts the
	// certificate (ssl.fail_verify_san).
	FailSAN
	// FailNotTLS: the peer did not speak TLS (plain text to a TLS port).
	FailNotTLS
	// FailTimeout: the handshake did not finish in time.
	FailTimeout
	// FailPeerRejected: the peer refused our certificate (an alert such as
	// bad_certificate or unknown_ca).
	FailPeerRejected
)

// HandshakeError is a failed TLS handshake, with a reason a person can act
// on. Reason is Envoy-like for %UPSTREAM_TRANSPORT_FAILURE_REASON%.
type HandshakeError struct {
	Kind   FailureKind
	Detail string // what went wrong, in words
	Err    error  // the underlying error, if any
}

func (e *HandshakeError) Error() string {
	if e.Err != nil && !strings.Contains(e.Detail, e.Err.Error()) {
		return "tls: " + e.Detail + ": " + e.Err.Error()
	}
	return "tls: " + e.Detail
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// Reason formats the failure the way Envoy reports TLS transport
// failures: "TLS_error:|<CODE>:<detail_with_underscores>:TLS_error_end".
func (e *HandshakeError) Reason() string {
	code := [...]string{
		FailHandshake:    "HANDSHAKE_FAILURE",
		FailNoCert:       "PEER_DID_NOT_RETURN_A_CERTIFICATE",
		FailVerify:       "CERTIFICATE_VERIFY_FAILED",
		FailSAN:          "CERTIFICATE_VERIFY_FAILED",
		FailNotTLS:       "WRONG_VERSION_NUMBER",
		FailTimeout:      "HANDSHAKE_TIMEOUT",
		FailPeerRejected: "PEER_REJECTED_CERTIFICATE",
	}[e.Kind]
	// Envoy's reasons hold no spaces, so that a log line splits on them.
	detail := strings.ReplaceAll(strings.TrimPrefix(e.Error(), "tls: "), " ", "_")
	return "TLS_error:|" + code + ":" + detail + ":TLS_error_end"
}

// verify checks the peer's certificate of a finished handshake.
// requireCert makes a missing certificate an error (servers with
// require_client_certificate; clients always get one from Go).
func (v *validation) verify(cs cryptotls.ConnectionState, requireCert, server bool) error {
	if len(cs.PeerCertificates) == 0 {
		if requireCert {
			return &HandshakeError{Kind: FailNoCert, Detail: "peer did not present a certificate (a client certificate is required)"}
		}
		return nil
	}
	if v == nil || v.trust == nil {
		return nil
	}
	tb := v.trust.currentTrust()
	leaf := cs.PeerCertificates[0]
	opts := x509.VerifyOptions{Roots: tb.pool, CurrentTime: v.now()}
	if len(cs.PeerCertificates) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	if server {
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if _, err := leaf.Verify(opts); err != nil {
		return &HandshakeError{Kind: FailVerify, Detail: "peer certificate " + describeVerifyError(err, leaf, v.now()), Err: err}
	}
	if !matchSANs(v.sans, leaf) {
		return &HandshakeError{Kind: FailSAN, Detail: fmt.Sprintf("peer certificate SANs [%s] match none of: %s",
			strings.Join(certSANs(leaf), " "), describeSANs(v.sans))}
	}
	return nil
}

func describeVerifyError(err error, leaf *x509.Certificate, now time.Time) string {
	var inv x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		if now.After(leaf.NotAfter) {
			return "expired at " + leaf.NotAfter.UTC().Format(time.RFC3339)
		}
		if now.Before(leaf.NotBefore) {
			return "is not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339)
		}
		return "(or one of its issuers) is expired or not yet valid"
	case errors.As(err, &unknown):
		return "is not signed by a trusted CA (issuer " + leaf.Issuer.String() + ")"
	case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
		return "has an extended key usage that does not allow this use"
	}
	return "does not verify"
}

// classify turns the error of a failed handshake into a HandshakeError.
func classify(err error) *HandshakeError {
	var he *HandshakeError
	if errors.As(err, &he) {
		return he
	}
	var rh cryptotls.RecordHeaderError
	var alert cryptotls.AlertError
	var ne net.Error
	switch {
	case errors.As(err, &rh):
		return &HandshakeError{Kind: FailNotTLS, Detail: "peer did not speak TLS (plain text to a TLS port?)", Err: err}
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return &HandshakeError{Kind: FailTimeout, Detail: "handshake did not complete in time", Err: err}
	case errors.As(err, &alert) || strings.Contains(err.Error(), "remote error: tls:"):
		return &HandshakeError{Kind: FailPeerRejected, Detail: "peer refused the handshake", Err: err}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return &HandshakeError{Kind: FailHandshake, Detail: "peer closed the connection during the handshake", Err: err}
	}
	return &HandshakeError{Kind: FailHandshake, Detail: "handshake failed", Err: err}
}
