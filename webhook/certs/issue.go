// Package certs provides the webhook's serving certificate: from files that something
// else (cert-manager, a mounted Secret) rotates, or self-managed in a Secret shared by
// all webhook replicas.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// Bundle is a CA and a serving certificate it signed, PEM-encoded as Secrets hold them.
type Bundle struct {
	CACert, CAKey []byte // ca.crt, ca.key
	Cert, Key     []byte // tls.crt, tls.key
}

// Lifetimes: the serving certificate is renewed well before it expires; the CA lives long
// because changing it means changing every caBundle.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	certLifetime = 365 * 24 * time.Hour
	renewBefore  = 30 * 24 * time.Hour
)

// NewBundle creates a CA (or reuses ca when it is valid until well after now) and a
// serving certificate for dnsNames and ips.
func NewBundle(ca *Bundle, dnsNames []string, ips []net.IP, now time.Time) (*Bundle, error) {
	var caCert *x509.Certificate
	var caKey *ecdsa.PrivateKey
	if ca != nil {
		c, k, err := parsePair(ca.CACert, ca.CAKey)
		if err == nil && c.IsCA && c.NotAfter.After(now.Add(certLifetime+renewBefore)) {
			caCert, caKey = c, k
		}
	}
	b := &Bundle{}
	if caCert == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("certs: %w", err)
		}
		tpl := &x509.Certificate{
			SerialNumber:          serial(),
			Subject:               pkix.Name{CommonName: "outrider-webhook-ca"},
			NotBefore:             now.Add(-time.Hour), // tolerate clock skew between nodes
			NotAfter:              now.Add(caLifetime),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
		if err != nil {
			return nil, fmt.Errorf("certs: creating CA: %w", err)
		}
		if caCert, err = x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("certs: %w", err)
		}
		caKey = k
		b.CACert, b.CAKey = pemCert(der), pemKey(k)
	} else {
		b.CACert, b.CAKey = ca.CACert, ca.CAKey
	}

	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	cn := "outrider-webhook"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	tpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, caCert, &k.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("certs: creating serving certificate: %w", err)
	}
	b.Cert, b.Key = pemCert(der), pemKey(k)
	return b, nil
}

// check returns why b cannot serve dnsNames and ips at now (or soon), nil when it can.
func (b *Bundle) check(dnsNames []string, ips []net.IP, now time.Time) error {
	caCert, _, err := parsePair(b.CACert, b.CAKey)
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	cert, _, err := parsePair(b.Cert, b.Key)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		return fmt.Errorf("serving certificate not signed by the CA: %w", err)
	}
	if now.Add(renewBefore).After(cert.NotAfter) {
		return fmt.Errorf("serving certificate expires %s", cert.NotAfter.Format(time.RFC3339))
	}
	for _, n := range dnsNames {
		if !slices.Contains(cert.DNSNames, n) {
			return fmt.Errorf("serving certificate lacks DNS name %s", n)
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return fmt.Errorf("serving certificate lacks IP %s", ip)
		}
	}
	return nil
}

// TLS returns the serving certificate for a tls.Config.
func (b *Bundle) TLS() (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return &c, nil
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("missing or invalid PEM")
	}
	c, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	if !k.PublicKey.Equal(c.PublicKey) {
		return nil, nil, errors.New("key does not match certificate")
	}
	return c, k, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // a freshly generated P-256 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}
