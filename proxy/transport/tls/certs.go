package tls

import (
	"crypto/x509"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// CertsJSON is the admin /certs page: Envoy's admin.v3.Certificates, one
// entry per live TLS context with its trusted CAs (ca_cert) and the
// certificate it presents (cert_chain), each with SANs and expiry.
func (r *Registry) CertsJSON() ([]byte, error) {
	return protojson.MarshalOptions{Multiline: true, Indent: " ", UseProtoNames: true}.Marshal(r.Certificates(time.Now()))
}

// Certificates lists the live contexts' certificates as of now.
func (r *Registry) Certificates(now time.Time) *adminv3.Certificates {
	out := &adminv3.Certificates{}
	for _, m := range r.live() {
		c := &adminv3.Certificate{}
		if m.trust != nil {
			if tb := m.trust.currentTrust(); tb != nil {
				for _, ca := range tb.certs {
					c.CaCert = append(c.CaCert, details(ca, tb.path, now))
				}
			}
		}
		for _, src := range m.certs {
			if kp := src.current(); kp != nil && kp.cert.Leaf != nil {
				c.CertChain = append(c.CertChain, details(kp.cert.Leaf, kp.path, now))
			}
		}
		out.Certificates = append(out.Certificates, c)
	}
	return out
}

func details(c *x509.Certificate, path string, now time.Time) *adminv3.CertificateDetails {
	d := &adminv3.CertificateDetails{
		Path:           path,
		SerialNumber:   c.SerialNumber.Text(16),
		ValidFrom:      timestamppb.New(c.NotBefore),
		ExpirationTime: timestamppb.New(c.NotAfter),
	}
	if left := c.NotAfter.Sub(now); left > 0 {
		d.DaysUntilExpiration = uint64(left / (24 * time.Hour))
	}
	for _, u := range c.URIs {
		d.SubjectAltNames = append(d.SubjectAltNames, &adminv3.SubjectAlternateName{Name: &adminv3.SubjectAlternateName_Uri{Uri: u.String()}})
	}
	for _, n := range c.DNSNames {
		d.SubjectAltNames = append(d.SubjectAltNames, &adminv3.SubjectAlternateName{Name: &adminv3.SubjectAlternateName_Dns{Dns: n}})
	}
	for _, ip := range c.IPAddresses {
		d.SubjectAltNames = append(d.SubjectAltNames, &adminv3.SubjectAlternateName{Name: &adminv3.SubjectAlternateName_IpAddress{IpAddress: ip.String()}})
	}
	return d
}
