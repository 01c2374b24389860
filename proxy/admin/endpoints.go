package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/outrider-mesh/outrider/proxy/stats"
)

// table lists the endpoints, each disabled when its hook is nil.
func (a *Admin) table() []*endpoint {
	h := &a.hooks
	return []*endpoint{
		{path: "/", help: "Admin home page", handle: a.help},
		{path: "/help", help: "print out list of admin commands", handle: a.help},
		{path: "/ready", help: "print server state, return 200 if LIVE, otherwise return 503", handle: a.ready},
		{path: "/stats", help: "print server stats", handle: a.stats, disabled: h.Stats == nil,
			params: []string{
				"usedonly: Only include stats that have been written by system since restart",
				"filter: Regular expression (Go RE2 syntax) for filtering stats",
				"format: Format to use; One of (text, json, prometheus)",
				"type: Stat types to include.; One of (All, Counters, Gauges, Histograms)",
			}},
		{path: "/stats/prometheus", help: "print server stats in prometheus format", handle: a.prometheus, disabled: h.Stats == nil,
			params: []string{
				"usedonly: Only include stats that have been written by system since restart",
				"filter: Regular expression (Go RE2 syntax) for filtering stats",
			}},
		{path: "/reset_counters", help: "reset all counters to zero", mutates: true, disabled: h.Stats == nil,
			handle: func(w http.ResponseWriter, _ *http.Request) { h.Stats.ResetCounters(); io.WriteString(w, "OK\n") }},
		{path: "/config_dump", help: "dump current Envoy configs", handle: a.configDump, disabled: h.ConfigDump == nil,
			params: []string{"include_eds: accepted; endpoints are part of the cluster dump"}},
		{path: "/clusters", help: "upstream cluster status", handle: a.listing(h.Clusters), disabled: h.Clusters == nil,
			params: []string{"format: File format to use; One of (text, json)"}},
		{path: "/listeners", help: "print listener info", handle: a.listing(h.Listeners), disabled: h.Listeners == nil,
			params: []string{"format: File format to use; One of (text, json)"}},
		{path: "/server_info", help: "print server version/status information", handle: a.serverInfo, disabled: h.ServerInfo == nil},
		{path: "/memory", help: "print current allocation/heap usage", handle: memory},
		{path: "/certs", help: "print certs on machine", handle: a.certs, disabled: h.Certs == nil},
		{path: "/quitquitquit", help: "exit the server", mutates: true, handle: a.quit, disabled: h.Quit == nil},
		{path: "/drain_listeners", help: "drain listeners", mutates: true, handle: a.drain, disabled: h.DrainListeners == nil,
			params: []string{
				"graceful: When draining listeners, enter a graceful drain period prior to closing listeners.",
				"inboundonly: Drains all inbound listeners.",
			}},
		{path: "/healthcheck/fail", help: "cause the server to fail health checks", mutates: true, handle: a.healthCheck(true)},
		{path: "/healthcheck/ok", help: "cause the server to pass health checks", mutates: true, handle: a.healthCheck(false)},
		{path: "/logging", help: "query/change logging levels", mutates: true, handle: a.logging, disabled: h.LogLevel == nil,
			params: []string{"level: desired logging level, this will change all loggers's level; One of (" + strings.Join(levelNames, ", ") + ")"}},
		{path: "/reopen_logs", help: "reopen access logs", mutates: true, handle: a.reopenLogs, disabled: h.ReopenLogs == nil},
	}
}

func (a *Admin) help(w http.ResponseWriter, _ *http.Request) { a.writeHelp(w) }

// ready is Envoy's /ready: the state and a newline, 200 only when LIVE.
func (a *Admin) ready(w http.ResponseWriter, _ *http.Request) {
	st := a.State()
	if st != Live {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	io.WriteString(w, string(st)+"\n")
}

// ParseQuery reads Envoy's stats query parameters: usedonly, filter, type.
// It is exported for the Prometheus-only port.
func ParseQuery(v url.Values) (stats.Query, error) {
	var q stats.Query
	_, q.UsedOnly = v["usedonly"]
	if f := v.Get("filter"); f != "" {
		re, err := regexp.Compile(f)
		if err != nil {
			return q, fmt.Errorf("invalid filter regex: %w", err)
		}
		q.Filter = re
	}
	switch t := v.Get("type"); t {
	case "", "All":
	case "Counters":
		q.Type = stats.Counters
	case "Gauges":
		q.Type = stats.Gauges
	case "Histograms":
		q.Type = stats.Histograms
	default:
		return q, fmt.Errorf("invalid type: %s", t)
	}
	if hb := v.Get("histogram_buckets"); hb != "" && hb != "cumulative" && hb != "none" {
		return q, fmt.Errorf("histogram_buckets=%s is not supported (cumulative only)", hb)
	}
	return q, nil
}

func badRequest(w http.ResponseWriter, err error) {
	w.WriteHeader(http.StatusBadRequest)
	io.WriteString(w, err.Error()+"\n")
}

func (a *Admin) stats(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q, err := ParseQuery(v)
	if err != nil {
		badRequest(w, err)
		return
	}
	switch f := v.Get("format"); f {
	case "", "text":
		err = a.hooks.Stats.WriteText(w, q)
	case "json":
		w.Header().Set("Content-Type", "application/json")
		err = a.hooks.Stats.WriteJSON(w, q)
	case "prometheus":
		err = a.hooks.Stats.WritePrometheus(w, q)
	default:
		badRequest(w, fmt.Errorf("invalid format: %s", f))
	}
	_ = err // the client went away; nothing to tell it
}

func (a *Admin) prometheus(w http.ResponseWriter, r *http.Request) {
	servePrometheus(a.hooks.Stats, w, r)
}

func servePrometheus(st *stats.Store, w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		badRequest(w, err)
		return
	}
	_ = st.WritePrometheus(w, q)
}

func (a *Admin) configDump(w http.ResponseWriter, r *http.Request) {
	for k := range r.URL.Query() {
		if k != "include_eds" {
			badRequest(w, fmt.Errorf("config_dump: query parameter %s is not supported", k))
			return
		}
	}
	b, err := a.hooks.ConfigDump()
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, err.Error()+"\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// listing serves /clusters and /listeners.
func (a *Admin) listing(write func(io.Writer, bool)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		asJSON := false
		switch f := r.URL.Query().Get("format"); f {
		case "", "text":
		case "json":
			asJSON = true
			w.Header().Set("Content-Type", "application/json")
		default:
			badRequest(w, fmt.Errorf("invalid format: %s", f))
			return
		}
		write(w, asJSON)
	}
}

var protoJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// marshalProto prints m as Envoy's admin does: proto field names, every
// field, indented. protojson's own indentation is deliberately unstable,
// so the compact form is indented by encoding/json.
func marshalProto(m proto.Message) ([]byte, error) {
	b, err := protoJSON.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = json.Indent(&out, b, "", " ")
	return out.Bytes(), err
}

func (a *Admin) serverInfo(w http.ResponseWriter, _ *http.Request) {
	var (
		b   []byte
		err error
	)
	switch v := a.hooks.ServerInfo().(type) {
	case *adminv3.ServerInfo:
		v = proto.Clone(v).(*adminv3.ServerInfo)
		if s, ok := adminv3.ServerInfo_State_value[string(a.State())]; ok {
			v.State = adminv3.ServerInfo_State(s)
		}
		b, err = marshalProto(v)
	case proto.Message:
		b, err = marshalProto(v)
	default:
		b, err = json.MarshalIndent(v, "", " ")
	}
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, err.Error()+"\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// memory is Envoy's /memory, from the Go runtime's view of the heap.
func memory(w http.ResponseWriter, _ *http.Request) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	b, _ := json.MarshalIndent(map[string]string{
		"allocated":            u(m.HeapAlloc),
		"heap_size":            u(m.HeapSys),
		"pageheap_unmapped":    u(m.HeapReleased),
		"pageheap_free":        u(m.HeapIdle - m.HeapReleased),
		"total_thread_cache":   "0",
		"total_physical_bytes": u(m.Sys - m.HeapReleased),
	}, "", " ")
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

func (a *Admin) certs(w http.ResponseWriter, _ *http.Request) {
	b, err := a.hooks.Certs()
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, err.Error()+"\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (a *Admin) quit(w http.ResponseWriter, _ *http.Request) {
	io.WriteString(w, "OK\n")
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	go a.hooks.Quit()
}

func (a *Admin) drain(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if _, ok := v["skip_exit"]; ok {
		badRequest(w, fmt.Errorf("skip_exit is not supported"))
		return
	}
	_, graceful := v["graceful"]
	_, inbound := v["inboundonly"]
	a.hooks.DrainListeners(graceful, inbound)
	io.WriteString(w, "OK\n")
}

func (a *Admin) healthCheck(fail bool) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		if a.failed.Swap(fail) != fail && a.hooks.HealthCheckChanged != nil {
			a.hooks.HealthCheckChanged(fail)
		}
		io.WriteString(w, "OK\n")
	}
}

func (a *Admin) reopenLogs(w http.ResponseWriter, _ *http.Request) {
	if err := a.hooks.ReopenLogs(); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, err.Error()+"\n")
		return
	}
	io.WriteString(w, "OK\n")
}

// Envoy's (spdlog's) level names and the slog levels they map to.
var (
	levelNames = []string{"trace", "debug", "info", "warning", "error", "critical", "off"}
	levels     = map[string]slog.Level{
		"trace": slog.LevelDebug - 4, "debug": slog.LevelDebug, "info": slog.LevelInfo,
		"warning": slog.LevelWarn, "warn": slog.LevelWarn, "error": slog.LevelError,
		"critical": slog.LevelError + 4, "off": slog.LevelError + 8,
	}
)

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warning"
	case l < slog.LevelError+4:
		return "error"
	case l < slog.LevelError+8:
		return "critical"
	default:
		return "off"
	}
}

// logging is Envoy's /logging: POST ?level=<level> changes the level of
// every logger; the answer lists the loggers. This proxy has one logger,
// "outrider". A GET without parameters only lists (Envoy refuses it).
func (a *Admin) logging(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	var msg string
	if len(v) > 0 {
		lv, ok := levels[v.Get("level")]
		switch {
		case len(v) != 1 || len(v["level"]) != 1:
			msg = "invalid number of parameters"
			if len(v) == 1 && v.Get("level") == "" {
				msg = "only level=<level> is supported"
			}
		case !ok:
			msg = "unknown logger level"
		default:
			a.hooks.LogLevel.Set(lv)
		}
	}
	var b strings.Builder
	if msg != "" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(&b, "error: %s\n\n", msg)
		b.WriteString("usage: /logging?level=<level> (change all levels)\n")
		b.WriteString("levels: " + strings.Join(levelNames, " ") + " \n")
	}
	b.WriteString("active loggers:\n")
	fmt.Fprintf(&b, "  outrider: %s\n\n", levelName(a.hooks.LogLevel.Level()))
	io.WriteString(w, b.String())
}
