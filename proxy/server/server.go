// Package server assembles the proxy: it loads the bootstrap, builds the
// clusters and listeners from it, serves the admin API, and runs the
// process lifecycle (ready, drain, reload, exit).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/outrider-mesh/outrider/proxy/accesslog"
	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/listener"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/transport/tls"
)

// State is where the process is in its life, as Envoy's /ready reports it.
type State int32

const (
	PreInitializing State = iota
	Live
	Draining
)

func (s State) String() string {
	switch s {
	case Live:
		return "LIVE"
	case Draining:
		return "DRAINING"
	default:
		return "PRE_INITIALIZING"
	}
}

// Options configure a Server. Zero values mean the documented defaults.
type Options struct {
	// ConfigPath is the bootstrap file (YAML or JSON), read at start and on
	// every Reload.
	ConfigPath string
	// Load, if not nil, produces the bootstrap instead of reading
	// ConfigPath (the sidecar mode builds its own).
	Load func() (*bootstrapv3.Bootstrap, error)
	// DrainTime bounds the drain after Shutdown. Zero means 5s.
	DrainTime time.Duration
	// ExitOnZeroActiveConnections ends the drain as soon as no downstream
	// connection is left, instead of waiting for DrainTime.
	ExitOnZeroActiveConnections bool
	// Log receives the proxy's operational log; nil means slog.Default().
	Log *slog.Logger
	// LogLevel is the level /logging changes; nil means a fixed Info.
	LogLevel *slog.LevelVar
	// CommandLine is reported by /server_info.
	CommandLine []string
	// Identity is the pod identity reported by /server_info (sidecar mode).
	Identity map[string]string
}

// Server is one running proxy.
type Server struct {
	opts  Options
	log   *slog.Logger
	start time.Time

	stats     *stats.Store
	clusters  *cluster.Manager
	listeners *listener.Manager
	logs      *accesslog.Manager
	tls       *tls.Registry
	admin     *adminServer

	state        atomic.Int32
	healthFailed atomic.Bool
	// current is the running bootstrap in wire form: decoded, it would
	// cost ten times as much for as long as it runs (see config.Snapshot).
	current atomic.Pointer[config.Snapshot]
	// loadedAt is when current was applied (unix nanoseconds), for
	// /config_dump's last_updated.
	loadedAt atomic.Int64

	reloadMu sync.Mutex
	st       serverStats

	quitOnce  sync.Once
	quit      chan struct{} // closed by /quitquitquit
	closeOnce sync.Once
	closed    chan struct{} // closed by Close
}

type serverStats struct {
	reloads, reloadFailures *stats.Counter
	state, uptime           *stats.Gauge
}

// New returns a server that has not started.
func New(opts Options) *Server {
	if opts.DrainTime == 0 {
		opts.DrainTime = 5 * time.Second
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	store := stats.NewStore()
	sc := store.Root().Scope("server")
	s := &Server{
		opts:   opts,
		log:    log,
		start:  time.Now(),
		stats:  store,
		quit:   make(chan struct{}),
		closed: make(chan struct{}),
		st: serverStats{
			reloads:        sc.Counter("config_reload_total"),
			reloadFailures: sc.Counter("config_reload_failed"),
			state:          sc.Gauge("state"),
			uptime:         sc.Gauge("uptime"),
		},
	}
	s.clusters = cluster.NewManager(store)
	s.logs = accesslog.NewManager(store)
	s.tls = tls.NewRegistry(log, store) // SDS secrets and TLS contexts, shared by listeners and clusters
	s.clusters.SetTLSRegistry(s.tls)
	s.listeners = listener.NewManager(&listener.Env{
		Clusters:    s.clusters,
		Stats:       store,
		HTTPFilters: httpFilters(),
		AccessLogs: func(logs []*accesslogv3.AccessLog, p config.Path) (network.AccessLogger, error) {
			return s.logs.Translate(logs, p)
		},
		TLS:       s.tls,
		DrainTime: opts.DrainTime,
		Log:       log,
	})
	s.setState(PreInitializing)
	return s
}

// Stats is the server's stats store.
func (s *Server) Stats() *stats.Store { return s.stats }

// State returns the current lifecycle state.
func (s *Server) State() State { return State(s.state.Load()) }

func (s *Server) setState(st State) {
	s.state.Store(int32(st))
	// Envoy's server.state gauge: 0 live, 1 draining, 2 pre-initializing.
	switch st {
	case Live:
		s.st.state.Set(0)
	case Draining:
		s.st.state.Set(1)
	default:
		s.st.state.Set(2)
	}
}

// Ready reports whether the proxy should receive traffic: live and not
// failed by POST /healthcheck/fail.
func (s *Server) Ready() bool {
	return s.State() == Live && !s.healthFailed.Load()
}

// Start loads the configuration, builds clusters and listeners, starts the
// admin API and turns the server LIVE. On error nothing is left listening.
func (s *Server) Start(ctx context.Context) error {
	snap, b, err := s.load()
	if err != nil {
		return err
	}
	if err := s.apply(snap, b); err != nil {
		s.Close()
		return err
	}
	warm, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.clusters.WaitWarm(warm); err != nil {
		s.log.Warn("server: clusters not warm, serving anyway", "err", err)
	}
	if err := s.startAdmin(b); err != nil {
		s.Close()
		return err
	}
	s.setState(Live)
	go s.flushStats()
	s.log.Info("server: live", "listeners", len(b.GetStaticResources().GetListeners()),
		"clusters", len(b.GetStaticResources().GetClusters()))
	return nil
}

// load reads the configuration. It returns it twice: in wire form, to
// keep, and decoded again from that form, to translate.
//
// Why decode twice: reading a file (YAML to JSON to protos, checked
// field by field) allocates some thirty times what its protos hold. The
// collector frees that garbage while the decoded protos are still in
// use, leaving holes between them, and the translated configuration,
// allocated next, fills those holes. Once the protos go too, the memory
// spans they shared stay partly used for as long as the configuration
// runs (~0.5 KB per cluster and route). Collected once the file's
// protos are dropped, the garbage leaves whole spans free; the second
// decoding, from compact wire form, makes almost no garbage, so the
// translation lands beside its protos and nothing pins their spans.
func (s *Server) load() (*config.Snapshot, *bootstrapv3.Bootstrap, error) {
	snap, err := s.loadSnapshot()
	if err != nil {
		return nil, nil, err
	}
	runtime.GC()
	b, err := snap.Bootstrap()
	if err != nil {
		return nil, nil, err
	}
	return snap, b, nil
}

func (s *Server) loadSnapshot() (*config.Snapshot, error) {
	var b *bootstrapv3.Bootstrap
	var err error
	switch {
	case s.opts.Load != nil:
		b, err = s.opts.Load()
	case s.opts.ConfigPath == "":
		err = errors.New("server: no configuration: pass -c FILE")
	default:
		b, err = config.Load(s.opts.ConfigPath)
	}
	if err != nil {
		return nil, err
	}
	return config.NewSnapshot(b)
}

// apply makes b, whose wire form is snap, the running configuration:
// clusters first, since routes and tcp_proxy name them, then listeners.
// If the listeners are refused, the previous clusters are put back.
func (s *Server) apply(snap *config.Snapshot, b *bootstrapv3.Bootstrap) error {
	sr := b.GetStaticResources()
	root := config.Path("static_resources")
	if err := s.clusters.Update(sr.GetClusters(), root.Field("clusters")); err != nil {
		return err
	}
	if err := s.listeners.Apply(sr.GetListeners(), root.Field("listeners")); err != nil {
		s.restoreClusters(root.Field("clusters"))
		return err
	}
	s.loadedAt.Store(time.Now().UnixNano())
	s.current.Store(snap)
	return nil
}

// restoreClusters puts the running configuration's clusters back after a
// new configuration's listeners were refused.
func (s *Server) restoreClusters(p config.Path) {
	old := s.current.Load()
	if old == nil {
		return
	}
	b, err := old.Bootstrap()
	if err == nil {
		err = s.clusters.Update(b.GetStaticResources().GetClusters(), p)
	}
	if err != nil {
		s.log.Error("server: restoring previous clusters failed", "err", err)
	}
}

// Reload reads the configuration again and swaps it in. An invalid
// configuration is rejected, logged and counted; the running one stays.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.st.reloads.Inc()
	snap, b, err := s.load()
	if err == nil {
		err = s.apply(snap, b)
	}
	if err != nil {
		s.st.reloadFailures.Inc()
		s.log.Error("server: reload rejected, keeping the running configuration", "err", err)
		return fmt.Errorf("server: reload: %w", err)
	}
	s.log.Info("server: configuration reloaded")
	return nil
}

// Quit is closed when POST /quitquitquit asks the process to exit.
func (s *Server) Quit() <-chan struct{} { return s.quit }

func (s *Server) requestQuit() { s.quitOnce.Do(func() { close(s.quit) }) }

// Shutdown drains: /ready turns 503 at once, HTTP/1.1 responses carry
// Connection: close, HTTP/2 connections get GOAWAY, in-flight requests
// complete and listeners keep accepting. It returns when the drain time has
// passed, when no connection is left (with ExitOnZeroActiveConnections), or
// when ctx is done; then everything is closed.
func (s *Server) Shutdown(ctx context.Context) {
	s.setState(Draining)
	s.listeners.StartDrain(false)
	deadline := time.NewTimer(s.opts.DrainTime)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	s.log.Info("server: draining", "drain_time", s.opts.DrainTime,
		"exit_on_zero_active_connections", s.opts.ExitOnZeroActiveConnections)
wait:
	for {
		if s.opts.ExitOnZeroActiveConnections && s.listeners.ActiveConnections() == 0 {
			break
		}
		select {
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			break wait
		case <-tick.C:
		}
	}
	s.Close()
}

// flushStats starts a new histogram interval every 5 seconds, as Envoy's
// stats flush does, so that /stats quantiles cover recent traffic.
func (s *Server) flushStats() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.stats.Flush()
			s.st.uptime.Set(int64(time.Since(s.start).Seconds()))
		case <-s.closed:
			return
		}
	}
}

// Close stops everything at once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	if s.admin != nil {
		s.admin.close()
	}
	s.listeners.Close()
	s.clusters.Close()
	_ = s.logs.Close()
	s.tls.Close()
}

// ListenerAddr is the bound address of the named listener (the real port
// when the config asked for port 0).
func (s *Server) ListenerAddr(name string) (netip.AddrPort, bool) {
	return s.listeners.Addr(name)
}

// Clusters is the cluster manager.
func (s *Server) Clusters() *cluster.Manager { return s.clusters }
