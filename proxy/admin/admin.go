// Package admin serves Envoy's admin API (/ready, /stats, /stats/prometheus,
// /config_dump, /clusters, /listeners, /server_info, /logging and the
// POST-only commands) from functions the server provides, and the small
// handlers the sidecar mode mounts on its own ports: /healthz/ready for
// kubelet probes and the Prometheus-only /stats/prometheus.
//
// Paths, bodies and status codes follow Envoy's: a mutating endpoint asked
// with anything but POST answers 405 "Method GET not allowed, POST
// required.", an unknown path 404 "invalid path. admin commands are: ...".
// Where Envoy serves an HTML home page, / answers the text of /help.
package admin

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// State is the server's state as Envoy reports it in /ready and
// /server_info.
type State string

const (
	PreInitializing State = "PRE_INITIALIZING"
	Initializing    State = "INITIALIZING"
	Live            State = "LIVE"
	Draining        State = "DRAINING"
)

// Hooks are what the admin API reads and drives; the server provides them.
// A nil hook disables its endpoint, which then answers 501 Not Implemented
// ("<path>: not available") but stays listed in /help.
type Hooks struct {
	// Stats backs /stats, /stats/prometheus and /reset_counters.
	Stats *stats.Store
	// State is the lifecycle state. Nil means LIVE. The admin API reports
	// DRAINING while the health check is failed (POST /healthcheck/fail),
	// as Envoy does.
	State func() State
	// HealthCheckChanged, if not nil, is told when POST /healthcheck/fail
	// or /healthcheck/ok changes the health-check flag.
	HealthCheckChanged func(failed bool)
	// ConfigDump returns the effective configuration as Envoy's
	// /config_dump JSON.
	ConfigDump func() ([]byte, error)
	// Clusters writes /clusters: Envoy's "name::host::stat::value" lines,
	// or the JSON form (admin.v3.Clusters) when json is set.
	Clusters func(w io.Writer, json bool)
	// Listeners writes /listeners: "name::address" lines, or the JSON form
	// (admin.v3.Listeners) when json is set.
	Listeners func(w io.Writer, json bool)
	// ServerInfo returns /server_info: an *adminv3.ServerInfo (printed with
	// protojson, its state replaced by the admin API's view) or any value
	// encoding/json prints.
	ServerInfo func() any
	// Quit ends the process (POST /quitquitquit). It is called after the
	// response is written, on its own goroutine.
	Quit func()
	// DrainListeners starts a drain (POST /drain_listeners): graceful keeps
	// the listeners accepting for the drain time before stopping them;
	// inboundOnly limits it to inbound listeners.
	DrainListeners func(graceful, inboundOnly bool)
	// LogLevel is the process log level that /logging shows and changes.
	LogLevel *slog.LevelVar
	// ReopenLogs reopens the access log files (POST /reopen_logs).
	ReopenLogs func() error
	// Certs returns /certs, Envoy's admin.v3.Certificates JSON.
	Certs func() ([]byte, error)
	// AccessLog, if not nil, gets one entry per admin request (the
	// bootstrap's admin.access_log, e.g. accesslog.Loggers).
	AccessLog interface{ Log(*streaminfo.Info) }
}

// Admin is the admin API handler.
type Admin struct {
	hooks     Hooks
	failed    atomic.Bool
	endpoints map[string]*endpoint
	sorted    []*endpoint
}

// endpoint is one admin path.
type endpoint struct {
	path     string
	help     string
	params   []string // help lines for query parameters
	mutates  bool     // POST only
	handle   func(w http.ResponseWriter, r *http.Request)
	disabled bool // its hook is nil
}

var _ http.Handler = (*Admin)(nil)

// New returns the admin API for h.
func New(h Hooks) *Admin {
	a := &Admin{hooks: h, endpoints: map[string]*endpoint{}}
	for _, e := range a.table() {
		a.endpoints[e.path] = e
		a.sorted = append(a.sorted, e)
	}
	sort.Slice(a.sorted, func(i, j int) bool { return a.sorted[i].path < a.sorted[j].path })
	return a
}

// HealthCheckFailed reports whether POST /healthcheck/fail is in force.
func (a *Admin) HealthCheckFailed() bool { return a.failed.Load() }

// State is the state /ready reports: DRAINING while the health check is
// failed, else the server's state.
func (a *Admin) State() State {
	if a.failed.Load() {
		return Draining
	}
	if a.hooks.State == nil {
		return Live
	}
	return a.hooks.State()
}

// ServeHTTP dispatches on the exact path, as Envoy does, and writes the
// admin access log.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.hooks.AccessLog == nil {
		a.serve(w, r)
		return
	}
	in := &streaminfo.Info{Start: time.Now(), Request: r, Protocol: r.Proto}
	in.DownstreamRemote, _ = netip.ParseAddrPort(r.RemoteAddr)
	in.DownstreamDirect = in.DownstreamRemote
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		in.DownstreamLocal, _ = netip.ParseAddrPort(la.String())
	}
	rw := &recorder{ResponseWriter: w, info: in}
	a.serve(rw, r)
	if in.ResponseCode == 0 {
		in.ResponseCode = http.StatusOK
	}
	in.ResponseHeader = w.Header()
	in.ResponseComplete = time.Since(in.Start)
	a.hooks.AccessLog.Log(in)
}

// recorder notes the status and body size of an admin response.
type recorder struct {
	http.ResponseWriter
	info *streaminfo.Info
}

func (r *recorder) WriteHeader(code int) {
	if r.info.ResponseCode == 0 {
		r.info.ResponseCode = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.info.ResponseCode == 0 {
		r.info.ResponseCode = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.info.BytesSent.Add(uint64(n))
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *Admin) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Cache-Control", "no-cache, max-age=0")
	h.Set("X-Content-Type-Options", "nosniff")
	e, ok := a.endpoints[r.URL.Path]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "invalid path. ")
		a.writeHelp(w)
		return
	}
	if e.mutates && r.Method != http.MethodPost && !(e.path == "/logging" && len(r.URL.Query()) == 0) {
		w.WriteHeader(http.StatusMethodNotAllowed)
		fmt.Fprintf(w, "Method %s not allowed, POST required.", r.Method)
		return
	}
	if e.disabled {
		w.WriteHeader(http.StatusNotImplemented)
		fmt.Fprintf(w, "%s: not available\n", e.path)
		return
	}
	e.handle(w, r)
}

// writeHelp writes Envoy's "admin commands are:" list.
func (a *Admin) writeHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString("admin commands are:\n")
	for _, e := range a.sorted {
		post := ""
		if e.mutates {
			post = " (POST)"
		}
		fmt.Fprintf(&b, "  %s%s: %s\n", e.path, post, e.help)
		for _, p := range e.params {
			fmt.Fprintf(&b, "      %s\n", p)
		}
	}
	io.WriteString(w, b.String())
}
