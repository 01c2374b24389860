package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeSecretVolume lays out dir as the kubelet does for a mounted Secret: the files live
// in a timestamped directory, "..data" points at it, and tls.crt/tls.key point through
// "..data". A later call swaps "..data" atomically, as the kubelet does on an update.
func writeSecretVolume(t *testing.T, dir, version string, b *Bundle) {
	t.Helper()
	ts := filepath.Join(dir, "..2026_"+version)
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{CertFile: b.Cert, KeyFile: b.Key} {
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
	for _, name := range []string{CertFile, KeyFile} {
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

func newBundle(t *testing.T) *Bundle {
	t.Helper()
	b, err := NewBundle(nil, []string{"outrider-webhook.outrider-system.svc"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// servedSerial asks a real TLS server for its certificate and returns the serial number.
func servedSerial(t *testing.T, addr string, ca []byte) string {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "outrider-webhook.outrider-system.svc"})
	if err != nil {
		return "error: " + err.Error()
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestDirReloadsWhenTheSecretVolumeSwapsItsDataLink(t *testing.T) {
	dir := t.TempDir()
	first, second := newBundle(t), newBundle(t)
	writeSecretVolume(t, dir, "1", first)
	d, err := NewDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: d.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(l)
	defer srv.Close()

	c1, _ := first.TLS()
	c1x, _ := x509.ParseCertificate(c1.Certificate[0])
	if got := servedSerial(t, l.Addr().String(), first.CACert); got != c1x.SerialNumber.String() {
		t.Fatalf("serving %s, want the first certificate %s", got, c1x.SerialNumber)
	}

	<-d.watching // swap only once the watch is in place
	writeSecretVolume(t, dir, "2", second)
	c2, _ := second.TLS()
	c2x, _ := x509.ParseCertificate(c2.Certificate[0])
	want := c2x.SerialNumber.String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := servedSerial(t, l.Addr().String(), second.CACert)
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %s after the swap, want %s", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDirKeepsTheOldCertificateWhenTheNewOneIsBroken(t *testing.T) {
	dir := t.TempDir()
	good := newBundle(t)
	writeSecretVolume(t, dir, "1", good)
	d, err := NewDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := d.GetCertificate(nil)
	writeSecretVolume(t, dir, "2", &Bundle{Cert: []byte("garbage"), Key: good.Key})
	if err := d.reload(); err == nil {
		t.Fatal("reload of a broken pair succeeded")
	}
	if after, _ := d.GetCertificate(nil); after != before {
		t.Error("a failed reload replaced the certificate")
	}
	if _, err := NewDir(t.TempDir(), nil); err == nil {
		t.Error("NewDir on an empty directory succeeded")
	}
}

func TestBundleCheckSaysWhenToRenew(t *testing.T) {
	now := time.Now()
	names := []string{"outrider-webhook.outrider-system.svc"}
	b, err := NewBundle(nil, names, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	other := newBundle(t)
	tests := []struct {
		name    string
		bundle  *Bundle
		names   []string
		ips     []net.IP
		at      time.Time
		wantErr bool
	}{
		{name: "a fresh bundle is fine", bundle: b, names: names, at: now},
		{name: "a certificate close to expiry needs renewal", bundle: b, names: names, at: now.Add(certLifetime - renewBefore/2), wantErr: true},
		{name: "a missing DNS name needs renewal", bundle: b, names: append(names, "extra.example"), at: now, wantErr: true},
		{name: "a missing IP needs renewal", bundle: b, names: names, ips: []net.IP{net.ParseIP("10.0.0.1")}, at: now, wantErr: true},
		{name: "a certificate from another CA is refused", bundle: &Bundle{CACert: b.CACert, CAKey: b.CAKey, Cert: other.Cert, Key: other.Key},
			names: names, at: now, wantErr: true},
		{name: "an empty bundle is refused", bundle: &Bundle{}, at: now, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.bundle.check(tt.names, tt.ips, tt.at)
			if (err != nil) != tt.wantErr {
				t.Errorf("check = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
	renewed, err := NewBundle(b, names, nil, now.Add(certLifetime-renewBefore/2))
	if err != nil {
		t.Fatal(err)
	}
	if string(renewed.CACert) != string(b.CACert) {
		t.Error("renewing the serving certificate replaced a CA that is still valid")
	}
}
