package tls

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/fsnotify/fsnotify"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// File-based SDS, as Envoy does it: sds_config.path_config_source names a
// file holding a DiscoveryResponse whose resources are Secrets; the secret
// is found by name. When the file, or a file the secret points at,
// changes, the secret is read again and new handshakes use it;
// established connections keep the certificate they were made with.
//
// Kubernetes updates a mounted Secret by writing a new hidden directory
// and renaming the "..data" symlink onto it; every file of the mount
// changes at once. So watching is per directory: path_config_source's
// watched_directory (or the SDS file's directory) and the secret's own
// watched_directory (or its files' directories). Any event there reloads.

// secretKind is what an SDS secret must hold for the field that names it.
type secretKind uint8

const (
	kindCertificate secretKind = iota // tls_certificate_sds_secret_configs
	kindValidation                    // validation_context_sds_secret_config
)

func (k secretKind) String() string {
	if k == kindCertificate {
		return "tls_certificate"
	}
	return "validation_context"
}

type sdsKey struct {
	path, name, watchDir string
	kind                 secretKind
}

// sdsSecret is one file-based SDS secret, shared by every context that
// names it. It is a handle: when no context holds it any more, the garbage
// collector's cleanup stops its watcher (the watcher goroutine holds only
// the state, so it does not keep the handle alive).
type sdsSecret struct{ *secretState }

// secretState is a secret's current material, kept current by a
// directory watcher.
type secretState struct {
	key   sdsKey
	reg   *Registry
	cert  atomic.Pointer[keyPair]
	trust atomic.Pointer[trustBundle]

	reloadMu  sync.Mutex // serialises reloads
	closeOnce sync.Once
	mu        sync.Mutex // guards the watch set and the timer
	watcher   *fsnotify.Watcher
	watched   map[string]bool
	timer     *time.Timer
	done      chan struct{}
}

func (s *secretState) current() *keyPair          { return s.cert.Load() }
func (s *secretState) currentTrust() *trustBundle { return s.trust.Load() }
func (s *secretState) String() string {
	return fmt.Sprintf("SDS secret %q (%s)", s.key.name, s.key.path)
}

// sdsSource translates an SdsSecretConfig into its shared secret.
func (r *Registry) sdsSource(sc *tlsv3.SdsSecretConfig, kind secretKind, p config.Path, errs *config.Errors) *sdsSecret {
	before := len(*errs)
	rejectUnhandled(errs, sc, p, "name", "sds_config")
	if sc.GetName() == "" {
		errs.Addf(p.Field("name"), "tls: the secret name is required")
	}
	cs := sc.GetSdsConfig()
	cp := p.Field("sds_config")
	if cs == nil {
		errs.Addf(cp, "tls: static_resources.secrets are not supported yet; use a file-based sds_config (path_config_source)")
		return nil
	}
	for _, f := range []string{"ads", "api_config_source", "self"} {
		if cs.ProtoReflect().Has(cs.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(f))) {
			errs.Addf(cp.Field(f), "tls: %s is not supported: only file-based SDS (path_config_source) is", f)
		}
	}
	rejectUnhandled(errs, cs, cp, "path_config_source", "path", "resource_api_version", "ads", "api_config_source", "self")
	if v := cs.GetResourceApiVersion(); v != corev3.ApiVersion_V3 {
		errs.Addf(cp.Field("resource_api_version"), "tls: only V3 is supported")
	}
	key := sdsKey{name: sc.GetName(), kind: kind}
	pathAt := cp.Field("path")
	switch {
	case cs.GetPathConfigSource() != nil:
		pcs := cs.GetPathConfigSource()
		pp := cp.Field("path_config_source")
		rejectUnhandled(errs, pcs, pp, "path", "watched_directory")
		key.path, pathAt = pcs.GetPath(), pp.Field("path")
		if wd := pcs.GetWatchedDirectory(); wd != nil {
			rejectUnhandled(errs, wd, pp.Field("watched_directory"), "path")
			key.watchDir = wd.GetPath()
		}
	case cs.GetPath() != "":
		key.path = cs.GetPath()
	default:
		if len(*errs) == before {
			errs.Addf(cp, "tls: only file-based SDS (path_config_source) is supported")
		}
		return nil
	}
	if key.path == "" {
		errs.Addf(pathAt, "tls: a path is required")
		return nil
	}
	if len(*errs) > before {
		return nil
	}
	s, err := r.secret(key)
	if err != nil {
		errs.Addf(pathAt, "tls: %w", err)
		return nil
	}
	return s
}

// secret returns the shared secret for key, loading and watching it the
// first time it is named.
func (r *Registry) secret(key sdsKey) (*sdsSecret, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("the TLS registry is closed")
	}
	if s := r.secrets[key].Value(); s != nil {
		return s, nil
	}
	st := &secretState{key: key, reg: r, watched: map[string]bool{}, done: make(chan struct{})}
	dirs, err := st.load()
	if err != nil {
		return nil, err
	}
	if err := st.watch(dirs); err != nil {
		st.close()
		return nil, err
	}
	s := &sdsSecret{st}
	runtime.AddCleanup(s, func(st *secretState) { st.close() }, st)
	r.secrets[key] = weak.Make(s)
	return s, nil
}

// load reads the SDS file and the files it names, and swaps the result in
// when it changed. It returns the directories to watch.
func (s *secretState) load() ([]string, error) {
	sec, err := readSecret(s.key.path, s.key.name)
	if err != nil {
		return nil, err
	}
	dirs := []string{filepath.Dir(s.key.path)}
	if s.key.watchDir != "" {
		dirs = []string{s.key.watchDir}
	}
	var errs config.Errors
	rp := config.Path(fmt.Sprintf("secret %q", s.key.name))
	switch s.key.kind {
	case kindCertificate:
		tc := sec.GetTlsCertificate()
		if tc == nil {
			return nil, fmt.Errorf("%s: secret %q holds no tls_certificate", s.key.path, s.key.name)
		}
		rejectUnhandled(&errs, tc, rp.Field("tls_certificate"), "certificate_chain", "private_key", "watched_directory")
		if err := errs.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.key.path, err)
		}
		kp, err := loadKeyPair(tc)
		if err != nil {
			return nil, fmt.Errorf("%s: secret %q: %w", s.key.path, s.key.name, err)
		}
		if old := s.cert.Load(); old == nil || !samePEM(old.pem, kp.pem) {
			s.cert.Store(kp)
		}
		dirs = append(dirs, certDirs(tc.GetWatchedDirectory(), tc.GetCertificateChain(), tc.GetPrivateKey())...)
	case kindValidation:
		vc := sec.GetValidationContext()
		if vc == nil {
			return nil, fmt.Errorf("%s: secret %q holds no validation_context", s.key.path, s.key.name)
		}
		rejectUnhandled(&errs, vc, rp.Field("validation_context"), "trusted_ca", "watched_directory")
		if err := errs.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w (SAN matchers go in combined_validation_context.default_validation_context)", s.key.path, err)
		}
		tb, err := loadTrust(vc.GetTrustedCa())
		if err != nil {
			return nil, fmt.Errorf("%s: secret %q: trusted_ca: %w", s.key.path, s.key.name, err)
		}
		if old := s.trust.Load(); old == nil || !samePEM(old.pem, tb.pem) {
			s.trust.Store(tb)
		}
		dirs = append(dirs, certDirs(vc.GetWatchedDirectory(), vc.GetTrustedCa())...)
	}
	return dirs, nil
}

// readSecret decodes the SDS file at path (YAML or JSON) and returns the
// secret called name.
func readSecret(path, name string) (*tlsv3.Secret, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var resp discoveryv3.DiscoveryResponse
	if err := protojson.Unmarshal(js, &resp); err != nil {
		return nil, fmt.Errorf("%s: not a DiscoveryResponse of Secrets: %w", path, err)
	}
	var names []string
	for i, a := range resp.GetResources() {
		var sec tlsv3.Secret
		if err := anypb.UnmarshalTo(a, &sec, protoUnmarshal); err != nil {
			return nil, fmt.Errorf("%s: resources[%d]: want an envoy.extensions.transport_sockets.tls.v3.Secret, got %s", path, i, a.GetTypeUrl())
		}
		if sec.GetName() == name {
			return &sec, nil
		}
		names = append(names, sec.GetName())
	}
	return nil, fmt.Errorf("%s: no secret named %q (found %q)", path, name, names)
}

// watch adds dirs to the watch set, starting the watcher on first use.
func (s *secretState) watch(dirs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watcher == nil {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			return fmt.Errorf("watching %s: %w", s.key.path, err)
		}
		s.watcher = w
		go s.run(w)
	}
	for _, d := range dirs {
		if s.watched[d] {
			continue
		}
		if err := s.watcher.Add(d); err != nil {
			return fmt.Errorf("watching %s: %w", d, err)
		}
		s.watched[d] = true
	}
	return nil
}

// reloadDelay gathers the burst of events one Secret update makes (new
// directory, new files, symlink rename) into one reload.
const reloadDelay = 50 * time.Millisecond

func (s *secretState) run(w *fsnotify.Watcher) {
	defer close(s.done)
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			s.mu.Lock()
			if s.timer == nil {
				s.timer = time.AfterFunc(reloadDelay, s.reload)
			} else {
				s.timer.Reset(reloadDelay)
			}
			s.mu.Unlock()
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.reg.logger().Warn("tls: watching SDS secret failed", "secret", s.key.name, "path", s.key.path, "err", err)
		}
	}
}

// reload reads the secret again. A secret that cannot be read (a write
// still in progress, a key that does not match its certificate yet) keeps
// the previous one; the next event retries.
func (s *secretState) reload() {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	oldCert, oldTrust := s.cert.Load(), s.trust.Load()
	dirs, err := s.load()
	log := s.reg.logger()
	if err != nil {
		s.reg.counter("update_rejected", s.key.name)
		log.Warn("tls: SDS secret not updated, keeping the previous one", "secret", s.key.name, "err", err)
		return
	}
	if err := s.watch(dirs); err != nil && !errors.Is(err, fsnotify.ErrClosed) {
		log.Warn("tls: SDS secret watch incomplete", "secret", s.key.name, "err", err)
	}
	switch {
	case s.cert.Load() != oldCert:
		kp := s.cert.Load()
		s.reg.counter("update_success", s.key.name)
		log.Info("tls: SDS secret updated: new handshakes use the new certificate", "secret", s.key.name,
			"serial", kp.cert.Leaf.SerialNumber.Text(16), "not_after", kp.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	case s.trust.Load() != oldTrust:
		s.reg.counter("update_success", s.key.name)
		log.Info("tls: SDS secret updated: new handshakes use the new trusted CA", "secret", s.key.name, "cas", len(s.trust.Load().certs))
	}
}

func (s *secretState) close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		w := s.watcher
		if s.timer != nil {
			s.timer.Stop()
		}
		s.mu.Unlock()
		if w != nil {
			w.Close()
			<-s.done
		}
	})
}
