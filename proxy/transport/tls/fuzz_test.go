package tls

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadSecret feeds arbitrary SDS files to the secret reader: it must
// return a secret or an error, never panic or hang.
func FuzzReadSecret(f *testing.F) {
	f.Add([]byte(`resources:
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: default
  tls_certificate: {certificate_chain: {filename: /x}, private_key: {inline_string: "k"}}
`))
	f.Add([]byte(`{"resources": [{"@type": "type.googleapis.com/envoy.config.listener.v3.Listener"}]}`))
	f.Add([]byte("resources: [ {name: default} ]"))
	f.Add([]byte("\x00\xff"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "sds.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		sec, err := readSecret(path, "default")
		if err == nil && sec.GetName() != "default" {
			t.Fatalf("returned secret %q for name default", sec.GetName())
		}
	})
}
