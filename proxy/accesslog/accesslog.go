// Package accesslog writes Envoy-style access logs: one entry per HTTP
// stream or TCP connection, in Envoy's text or JSON formats, to files,
// stdout or stderr.
//
// Translate compiles the AccessLog protos of a listener, connection
// manager or tcp_proxy once, at config load; Loggers.Log is then called at
// the end of every stream. Formatting appends into a pooled buffer (the
// text format allocates nothing) and the bytes go to an asynchronous sink
// shared by every logger writing to the same file, flushed every second;
// a request never waits for the disk.
//
// The sinks belong to a Manager. The package-level Translate uses the
// default manager; the server replaces it at startup with one bound to the
// stats store (SetDefault) and closes it on exit.
package accesslog

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	"google.golang.org/protobuf/proto"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// Type URLs of the supported access loggers.
const (
	FileType   = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
	StdoutType = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
	StderrType = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog"
)

// Logger is one compiled access log.
type Logger struct {
	filter filter // nil logs every stream
	format Formatter
	sink   *sink
}

// Loggers are the access logs of one listener, connection manager or
// tcp_proxy. The nil Loggers logs nothing.
type Loggers []*Logger

var entryPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Log writes one entry per logger whose filter accepts the stream. It is
// called once, when the stream ends; it never blocks on I/O.
func (ls Loggers) Log(in *streaminfo.Info) {
	for _, l := range ls {
		l.Log(in)
	}
}

// Log writes the entry for in if the logger's filter accepts it.
func (l *Logger) Log(in *streaminfo.Info) {
	if l.filter != nil && !l.filter(in) {
		return
	}
	bp := entryPool.Get().(*[]byte)
	b := l.format.Append((*bp)[:0], in)
	l.sink.write(b)
	if cap(b) <= 64<<10 { // do not keep one giant entry's buffer in the pool
		*bp = b
		entryPool.Put(bp)
	}
}

// Flush writes every entry logged so far to the files before returning.
func (ls Loggers) Flush() {
	for _, l := range ls {
		l.sink.Flush()
	}
}

// Close flushes the loggers. The files stay open, as other loggers may
// share them; Manager.Close closes them when the process ends.
func (ls Loggers) Close() error {
	ls.Flush()
	return nil
}

// Manager owns the open access log files: one sink per path, shared by
// every logger that writes there, across config reloads (Envoy's access
// log manager does the same).
type Manager struct {
	stats *sinkStats
	limit int

	mu     sync.Mutex
	sinks  map[string]*sink // by path; "/dev/stdout" and "/dev/stderr" for the streams
	closed bool
}

// NewManager returns a manager whose filesystem.* stats go to store (a
// private store when nil).
func NewManager(store *stats.Store) *Manager {
	if store == nil {
		store = stats.NewStore()
	}
	return &Manager{stats: newSinkStats(store), limit: defaultLimit, sinks: map[string]*sink{}}
}

var defaultManager atomic.Pointer[Manager]

// Default is the manager the package-level Translate uses.
func Default() *Manager {
	if m := defaultManager.Load(); m != nil {
		return m
	}
	defaultManager.CompareAndSwap(nil, NewManager(nil))
	return defaultManager.Load()
}

// SetDefault makes m the manager of the package-level Translate. The
// server calls it once at startup, before translating any config.
func SetDefault(m *Manager) { defaultManager.Store(m) }

// Translate compiles access logs found at path p with the default manager.
func Translate(logs []*accesslogv3.AccessLog, p config.Path) (Loggers, error) {
	return Default().Translate(logs, p)
}

// sink returns the shared sink of path, opening it on first use.
func (m *Manager) sink(path string) (*sink, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("access log: manager is closed")
	}
	if s, ok := m.sinks[path]; ok {
		return s, nil
	}
	var (
		s   *sink
		err error
	)
	switch path {
	case "/dev/stdout":
		s, err = openSink("", os.Stdout, m.stats, m.limit)
	case "/dev/stderr":
		s, err = openSink("", os.Stderr, m.stats, m.limit)
	default:
		s, err = openSink(path, nil, m.stats, m.limit)
	}
	if err != nil {
		return nil, err
	}
	m.sinks[path] = s
	return s, nil
}

// Flush writes every queued entry of every file.
func (m *Manager) Flush() {
	for _, s := range m.all() {
		s.Flush()
	}
}

// Reopen reopens every file, after log rotation (POST /reopen_logs).
func (m *Manager) Reopen() error {
	var errs []error
	for _, s := range m.all() {
		errs = append(errs, s.Reopen())
	}
	return errors.Join(errs...)
}

// Close flushes and closes every file. Entries logged afterwards are
// dropped and counted.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	for _, s := range m.all() {
		s.close()
	}
	return nil
}

func (m *Manager) all() []*sink {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*sink, 0, len(m.sinks))
	for _, s := range m.sinks {
		out = append(out, s)
	}
	return out
}

// Translate compiles the access logs found at path p (the repeated field,
// e.g. "...typed_config.access_log"). Every problem is reported with its
// path; on error no file is opened.
func (m *Manager) Translate(logs []*accesslogv3.AccessLog, p config.Path) (Loggers, error) {
	var errs config.Errors
	type pending struct {
		l    *Logger
		path string
		at   config.Path
	}
	var todo []pending
	for i, pb := range logs {
		at := p.Index(i)
		l := &Logger{}
		if pb.GetFilter() != nil {
			l.filter = compileFilter(pb.GetFilter(), at.Field("filter"), &errs)
		}
		path := compileLogger(pb, at, l, &errs)
		todo = append(todo, pending{l: l, path: path, at: at})
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	out := make(Loggers, 0, len(todo))
	for _, t := range todo {
		s, err := m.sink(t.path)
		if err != nil {
			errs.Add(t.at.Field("typed_config").Field("path"), err)
			continue
		}
		t.l.sink = s
		out = append(out, t.l)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// compileLogger compiles the typed_config of one AccessLog into l.format
// and returns the path of the file it writes.
func compileLogger(pb *accesslogv3.AccessLog, p config.Path, l *Logger, errs *config.Errors) string {
	tc := pb.GetTypedConfig()
	tp := p.Field("typed_config")
	if tc == nil {
		errs.Addf(p, "access log: typed_config is required (envoy.access_loggers.file, .stdout or .stderr)")
		return ""
	}
	var (
		msg  proto.Message
		path string
	)
	switch tc.GetTypeUrl() {
	case FileType:
		msg = &filev3.FileAccessLog{}
	case StdoutType:
		msg, path = &streamv3.StdoutAccessLog{}, "/dev/stdout"
	case StderrType:
		msg, path = &streamv3.StderrAccessLog{}, "/dev/stderr"
	default:
		errs.Addf(tp, "access log: %s is not supported (use envoy.access_loggers.file, .stdout or .stderr)", tc.GetTypeUrl())
		return ""
	}
	if err := tc.UnmarshalTo(msg); err != nil {
		errs.Add(tp, fmt.Errorf("access log: %w", err))
		return ""
	}
	var format *corev3.SubstitutionFormatString
	untyped := false
	switch c := msg.(type) {
	case *filev3.FileAccessLog:
		path = c.GetPath()
		if path == "" {
			errs.Addf(tp.Field("path"), "access log: path is required")
		}
		switch f := c.GetAccessLogFormat().(type) {
		case nil:
		case *filev3.FileAccessLog_LogFormat:
			format = f.LogFormat
		case *filev3.FileAccessLog_Format:
			format = &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_TextFormat{TextFormat: f.Format}}
		case *filev3.FileAccessLog_JsonFormat:
			// The deprecated untyped form: every value is a string.
			format = &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: f.JsonFormat}}
			untyped = true
		case *filev3.FileAccessLog_TypedJsonFormat:
			format = &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: f.TypedJsonFormat}}
		}
	case *streamv3.StdoutAccessLog:
		format = c.GetLogFormat()
	case *streamv3.StderrAccessLog:
		format = c.GetLogFormat()
	}
	l.format = compileFormat(format, tp.Field("log_format"), errs)
	if jf, ok := l.format.(*jsonFormatter); ok {
		jf.untyped = untyped
	}
	return path
}

// compileFormat compiles a SubstitutionFormatString; nil is Envoy's
// default format.
func compileFormat(f *corev3.SubstitutionFormatString, p config.Path, errs *config.Errors) Formatter {
	if f == nil {
		t, _ := compileTemplate(DefaultFormat)
		return &textFormatter{t: t}
	}
	if len(f.GetFormatters()) > 0 {
		errs.Addf(p.Field("formatters"), "access log: formatter extensions are not supported")
	}
	// content_type only matters to local replies; sort_properties is what
	// this formatter always does.
	omit := f.GetOmitEmptyValues()
	var text string
	switch v := f.GetFormat().(type) {
	case *corev3.SubstitutionFormatString_JsonFormat:
		jf := &jsonFormatter{omitEmpty: omit}
		jf.root = compileJSON(v.JsonFormat, p.Field("json_format"), errs)
		return jf
	case *corev3.SubstitutionFormatString_TextFormat:
		text = v.TextFormat
	case *corev3.SubstitutionFormatString_TextFormatSource:
		var err error
		if text, err = readDataSource(v.TextFormatSource); err != nil {
			errs.Add(p.Field("text_format_source"), err)
			return &textFormatter{}
		}
	default:
		errs.Addf(p, "access log: one of text_format, text_format_source or json_format is required")
		return &textFormatter{}
	}
	t, err := compileTemplate(text)
	if err != nil {
		errs.Add(p, fmt.Errorf("access log: %w", err))
	}
	return &textFormatter{t: t, omitEmpty: omit}
}

// readDataSource reads a format given as a DataSource, once, at load.
func readDataSource(ds *corev3.DataSource) (string, error) {
	if ds.GetWatchedDirectory() != nil {
		return "", errors.New("access log: watched_directory is not supported")
	}
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_InlineString:
		return s.InlineString, nil
	case *corev3.DataSource_InlineBytes:
		return string(s.InlineBytes), nil
	case *corev3.DataSource_Filename:
		b, err := os.ReadFile(s.Filename)
		if err != nil {
			return "", fmt.Errorf("access log: %w", err)
		}
		return string(b), nil
	case *corev3.DataSource_EnvironmentVariable:
		v, ok := os.LookupEnv(s.EnvironmentVariable)
		if !ok {
			return "", fmt.Errorf("access log: environment variable %s is not set", s.EnvironmentVariable)
		}
		return v, nil
	default:
		return "", errors.New("access log: the data source is empty")
	}
}
