package tls

import (
	"bytes"
	cryptotls "crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// keyPair is a loaded certificate chain and private key. It is immutable:
// a rotation swaps in a new one.
type keyPair struct {
	cert cryptotls.Certificate // Leaf is set
	path string                // certificate_chain's file, "<inline>" otherwise (for /certs)
	pem  []byte                // chain and key, to tell an unchanged reload
}

// trustBundle is a loaded trusted_ca. It is immutable.
type trustBundle struct {
	pool  *x509.CertPool
	certs []*x509.Certificate
	path  string
	pem   []byte
}

// A certSource yields the current key pair; a rotating source returns a
// new one after its files changed.
type certSource interface{ current() *keyPair }

// A trustSource yields the current trusted CA bundle.
type trustSource interface{ currentTrust() *trustBundle }

// staticCert and staticTrust never change.
type staticCert struct{ kp *keyPair }
type staticTrust struct{ tb *trustBundle }

func (s staticCert) current() *keyPair           { return s.kp }
func (s staticTrust) currentTrust() *trustBundle { return s.tb }

var (
	_ certSource  = staticCert{}
	_ trustSource = staticTrust{}
	_ certSource  = (*sdsSecret)(nil)
	_ trustSource = (*sdsSecret)(nil)
)

// readSource reads a DataSource holding PEM (filename, inline_string or
// inline_bytes) and returns its bytes and a name for messages and /certs.
func readSource(ds *corev3.DataSource) (data []byte, name string, err error) {
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_Filename:
		b, err := os.ReadFile(s.Filename)
		if err != nil {
			return nil, s.Filename, err
		}
		return b, s.Filename, nil
	case *corev3.DataSource_InlineString:
		return []byte(s.InlineString), "<inline>", nil
	case *corev3.DataSource_InlineBytes:
		return s.InlineBytes, "<inline>", nil
	case nil:
		return nil, "", errors.New("a filename, inline_string or inline_bytes is required")
	}
	return nil, "", fmt.Errorf("data source %T is not supported (use filename, inline_string or inline_bytes)", ds.GetSpecifier())
}

// loadKeyPair reads and parses a TlsCertificate's chain and key.
func loadKeyPair(tc *tlsv3.TlsCertificate) (*keyPair, error) {
	chain, name, err := readSource(tc.GetCertificateChain())
	if err != nil {
		return nil, fmt.Errorf("certificate_chain: %w", err)
	}
	key, _, err := readSource(tc.GetPrivateKey())
	if err != nil {
		return nil, fmt.Errorf("private_key: %w", err)
	}
	cert, err := cryptotls.X509KeyPair(chain, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &keyPair{cert: cert, path: name, pem: append(append([]byte{}, chain...), key...)}, nil
}

// loadTrust reads and parses a trusted_ca bundle.
func loadTrust(ds *corev3.DataSource) (*trustBundle, error) {
	data, name, err := readSource(ds)
	if err != nil {
		return nil, err
	}
	tb := &trustBundle{pool: x509.NewCertPool(), path: name, pem: data}
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		tb.pool.AddCert(c)
		tb.certs = append(tb.certs, c)
	}
	if len(tb.certs) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", name)
	}
	return tb, nil
}

func samePEM(a, b []byte) bool { return bytes.Equal(a, b) }

// certDirs are the directories whose changes may change tc: its
// watched_directory, or else the parents of its files (Envoy's rule for
// file-based SDS secrets).
func certDirs(watched *corev3.WatchedDirectory, sources ...*corev3.DataSource) []string {
	if watched != nil {
		return []string{watched.GetPath()}
	}
	var dirs []string
	for _, ds := range sources {
		if f := ds.GetFilename(); f != "" {
			dirs = append(dirs, filepath.Dir(f))
		}
	}
	return dirs
}

// rejectUnhandled records an error for every field set in m that is not
// in handled, so that nothing a translator received is silently ignored.
func rejectUnhandled(errs *config.Errors, m proto.Message, p config.Path, handled ...string) {
	if m == nil || !m.ProtoReflect().IsValid() {
		return
	}
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		name := string(fd.Name())
		for _, h := range handled {
			if h == name {
				return true
			}
		}
		errs.Addf(p.Field(name), "tls: %s is not supported", name)
		return true
	})
}

// checkDataSource rejects the DataSource fields the TLS sources do not
// read (watched_directory on a DataSource, environment_variable, …).
func checkDataSource(ds *corev3.DataSource, p config.Path, errs *config.Errors) {
	if ds == nil {
		errs.Addf(p, "tls: required")
		return
	}
	rejectUnhandled(errs, ds, p, "filename", "inline_string", "inline_bytes")
}
