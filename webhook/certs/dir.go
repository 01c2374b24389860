package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Dir serves the certificate in a directory (tls.crt and tls.key, as a kubernetes.io/tls
// Secret or cert-manager writes them) and reloads it when the directory changes.
//
// A mounted Secret changes by an atomic swap of the "..data" symlink, which shows up as
// events on the directory itself, so the directory (not the files) is watched.
type Dir struct {
	dir  string
	log  *slog.Logger
	cert atomic.Pointer[tls.Certificate]
	// watching is closed once Run watches the directory.
	watching chan struct{}
}

// File names inside the directory.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// NewDir loads the certificate from dir; it fails if that is not possible now.
func NewDir(dir string, log *slog.Logger) (*Dir, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Dir{dir: dir, log: log, watching: make(chan struct{})}
	if err := d.reload(); err != nil {
		return nil, err
	}
	return d, nil
}

// GetCertificate returns the current certificate; use it as tls.Config.GetCertificate.
func (d *Dir) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return d.cert.Load(), nil
}

func (d *Dir) reload() error {
	c, err := tls.LoadX509KeyPair(filepath.Join(d.dir, CertFile), filepath.Join(d.dir, KeyFile))
	if err != nil {
		return fmt.Errorf("certs: loading %s: %w", d.dir, err)
	}
	d.cert.Store(&c)
	return nil
}

// Run watches the directory until ctx ends, reloading after each burst of changes. A
// reload that fails (a half-written pair) keeps the previous certificate; the next event
// retries.
func (d *Dir) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	defer w.Close()
	if err := w.Add(d.dir); err != nil {
		return fmt.Errorf("certs: watching %s: %w", d.dir, err)
	}
	close(d.watching)
	// A swap is several events (create ..data_tmp, rename to ..data, remove the old
	// directory): wait for a quiet moment, then load once.
	const settle = 100 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			d.log.Debug("certs: directory changed", "event", ev.String())
			timer.Reset(settle)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			d.log.Warn("certs: watch error", "dir", d.dir, "err", err)
		case <-timer.C:
			if err := d.reload(); err != nil {
				d.log.Warn("certs: keeping the previous certificate", "err", err)
				continue
			}
			d.log.Info("certs: reloaded serving certificate", "dir", d.dir)
		}
	}
}
