// Package tls is the proxy's TLS transport socket
// (envoy.transport_sockets.tls): it translates a filter chain's
// DownstreamTlsContext into a Server that terminates TLS, and a cluster's
// UpstreamTlsContext into a Client that originates it, both with Go's
// crypto/tls.
//
// Certificates and trusted CAs come from files, inline PEM, or file-based
// SDS (sds_config.path_config_source, with watched_directory), which is
// reloaded when Kubernetes swaps a mounted Secret's "..data" symlink: new
// handshakes use the new certificate, established connections are left
// alone. Peer certificates are verified against the trusted CA and the
// SAN matchers (URI SANs carry SPIFFE IDs), and every outcome is counted
// in Envoy's ssl.* stats of the listener or cluster.
//
// Lifecycle: Translate* once per configuration (errors name their field
// path); Handshake per connection, lock-free. A Registry holds what
// outlives one configuration: the SDS watchers, shared by every context
// that names the same secret, and the list of live contexts for /certs.
package tls

import (
	"log/slog"
	"sync"
	"weak"

	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Registry holds the SDS secrets and the live TLS contexts of a process.
// The zero value is not usable; use NewRegistry.
type Registry struct {
	log   *slog.Logger
	store *stats.Store // sds.<secret>.update_* stats; nil: none

	mu       sync.Mutex
	secrets  map[sdsKey]weak.Pointer[sdsSecret] // a secret lives while a context uses it
	contexts []weak.Pointer[material]           // for /certs; dead ones are pruned
	closed   bool
}

// NewRegistry returns an empty registry. log receives secret reloads and
// failures (nil means slog.Default()); store, if not nil, gets Envoy's
// sds.<secret_name>.update_success / update_rejected counters.
func NewRegistry(log *slog.Logger, store *stats.Store) *Registry {
	return &Registry{log: log, store: store, secrets: map[sdsKey]weak.Pointer[sdsSecret]{}}
}

var (
	defaultOnce     sync.Once
	defaultRegistry *Registry
)

// Default is the process-wide registry, used by callers that were given
// none (a listener or cluster manager whose environment names no
// registry).
func Default() *Registry {
	defaultOnce.Do(func() { defaultRegistry = NewRegistry(nil, nil) })
	return defaultRegistry
}

func (r *Registry) logger() *slog.Logger {
	if r.log == nil {
		return slog.Default()
	}
	return r.log
}

func (r *Registry) counter(name, secret string) {
	if r.store == nil {
		return
	}
	r.store.Root().Scope("sds").Scope(secret).Counter(name).Inc()
}

// track records a context's material for /certs.
func (r *Registry) track(m *material) {
	r.mu.Lock()
	defer r.mu.Unlock()
	live := r.contexts[:0]
	for _, w := range r.contexts {
		if w.Value() != nil {
			live = append(live, w)
		}
	}
	clear(r.contexts[len(live):])
	r.contexts = append(live, weak.Make(m))
}

// live returns the material of every context still in use.
func (r *Registry) live() []*material {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*material
	for _, w := range r.contexts {
		if m := w.Value(); m != nil {
			out = append(out, m)
		}
	}
	return out
}

// Close stops every SDS watcher. Contexts keep the certificates they have.
func (r *Registry) Close() {
	r.mu.Lock()
	secrets := r.secrets
	r.secrets = map[sdsKey]weak.Pointer[sdsSecret]{}
	r.closed = true
	r.mu.Unlock()
	for _, w := range secrets {
		if s := w.Value(); s != nil {
			s.close()
		}
	}
}

// material is what a context presents and trusts, as /certs lists it.
type material struct {
	certs []certSource
	trust trustSource // nil when the peer is not verified
}
