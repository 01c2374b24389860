package webhook_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/outrider-mesh/outrider/webhook/certs"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func intstrName(s string) intstr.IntOrString { return intstr.FromString(s) }

// writeSecretVolume lays out dir as the kubelet does for a mounted Secret: the files live
// in a timestamped directory, "..data" points at it, and tls.crt/tls.key point through
// "..data". A later call swaps "..data" atomically, as the kubelet does on an update.
func writeSecretVolume(t *testing.T, dir, version string, b *certs.Bundle) {
	t.Helper()
	ts := filepath.Join(dir, "..2026_"+version)
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{certs.CertFile: b.Cert, certs.KeyFile: b.Key} {
		if err := os.WriteFile(filepath.Join(ts, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{certs.CertFile, certs.KeyFile} {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		os.RemoveAll(filepath.Join(dir, old))
	}
}

// decodeInto decodes JSON strictly, so a typo in a shipped manifest fails the test.
func decodeInto(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
