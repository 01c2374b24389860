package accesslog

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

func mustAny(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func fileLog(t testing.TB, path string, format *corev3.SubstitutionFormatString, f *accesslogv3.AccessLogFilter) *accesslogv3.AccessLog {
	fl := &filev3.FileAccessLog{Path: path}
	if format != nil {
		fl.AccessLogFormat = &filev3.FileAccessLog_LogFormat{LogFormat: format}
	}
	return &accesslogv3.AccessLog{
		Name:       "envoy.access_loggers.file",
		Filter:     f,
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(t, fl)},
	}
}

func textFormat(s string) *corev3.SubstitutionFormatString {
	return &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_TextFormatSource{
		TextFormatSource: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}}}
}

// logAndRead translates logs writing to a fresh file, logs each info and
// returns the file's lines.
func logAndRead(t *testing.T, format *corev3.SubstitutionFormatString, f *accesslogv3.AccessLogFilter, infos ...*streaminfo.Info) []string {
	t.Helper()
	m := NewManager(nil)
	defer m.Close()
	path := filepath.Join(t.TempDir(), "access.log")
	ls, err := m.Translate([]*accesslogv3.AccessLog{fileLog(t, path, format, f)}, "access_log")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		ls.Log(in)
	}
	ls.Flush()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestFileLoggerWritesTheDefaultFormatToTheFile(t *testing.T) {
	lines := logAndRead(t, nil, nil, fullInfo(), fullInfo())
	want := `[2016-04-15T20:17:00.310Z] "POST /api/v1/locations?a=1 HTTP/1.1" 204 UF,URX 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "10.0.2.1:80"`
	if len(lines) != 2 || lines[0] != want || lines[1] != want {
		t.Errorf("file holds %q, want two lines %q", lines, want)
	}
}

func TestJSONFormatKeepsTypesAndSortsKeys(t *testing.T) {
	js, err := structpb.NewStruct(map[string]any{
		"status":   "%RESPONSE_CODE%",
		"duration": "%DURATION%",
		"method":   "%REQ(:METHOD)%",
		"upstream": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
		"mixed":    "%REQ(:METHOD)% %REQ(X-NONE)%",
		"constant": 7,
		"flag":     true,
		"nested":   map[string]any{"ua": "%REQ(USER-AGENT)%", "quote": "a\"b\n"},
		"list":     []any{"%BYTES_RECEIVED%", "%ROUTE_NAME%"},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := logAndRead(t, &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: js}}, nil, fullInfo())
	want := `{"constant":7,"duration":226,"flag":true,"list":[154,"r1"],"method":"POST","mixed":"POST -","nested":{"quote":"a\"b\n","ua":"nsq2http"},"status":204,"upstream":null}`
	if len(lines) != 1 || lines[0] != want {
		t.Fatalf("got  %q\nwant %q", lines, want)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &v); err != nil {
		t.Errorf("entry is not JSON: %v", err)
	}
}

func TestJSONOmitEmptyValuesDropsNullsAndEmptyObjects(t *testing.T) {
	js, _ := structpb.NewStruct(map[string]any{
		"host":   "%UPSTREAM_HOST%",
		"code":   "%RESPONSE_CODE%",
		"nested": map[string]any{"a": "%REQ(X-A)%"},
		"empty":  []any{},
	})
	lines := logAndRead(t, &corev3.SubstitutionFormatString{OmitEmptyValues: true, Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: js}}, nil, &streaminfo.Info{})
	if want := `{"code":0,"empty":[]}`; len(lines) != 1 || lines[0] != want {
		t.Errorf("got %q, want %q", lines, want)
	}
}

func TestFiltersSelectWhichStreamsAreLogged(t *testing.T) {
	status := func(op accesslogv3.ComparisonFilter_Op, v uint32) *accesslogv3.AccessLogFilter {
		return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{StatusCodeFilter: &accesslogv3.StatusCodeFilter{
			Comparison: &accesslogv3.ComparisonFilter{Op: op, Value: &corev3.RuntimeUInt32{DefaultValue: v, RuntimeKey: "k"}}}}}
	}
	flags := func(names ...string) *accesslogv3.AccessLogFilter {
		return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{Flags: names}}}
	}
	header := func(m *routev3.HeaderMatcher) *accesslogv3.AccessLogFilter {
		return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_HeaderFilter{HeaderFilter: &accesslogv3.HeaderFilter{Header: m}}}
	}
	withCode := func(code int, f failure.Flags, ms int) *streaminfo.Info {
		in := fullInfo()
		in.ResponseCode, in.Flags = code, f
		in.ResponseComplete = time.Duration(ms) * time.Millisecond
		return in
	}
	tests := []struct {
		name   string
		filter *accesslogv3.AccessLogFilter
		infos  []*streaminfo.Info
		want   string // the codes logged
	}{
		{name: "status at least 400", filter: status(accesslogv3.ComparisonFilter_GE, 400),
			infos: []*streaminfo.Info{withCode(200, 0, 1), withCode(404, 0, 1), withCode(503, 0, 1)}, want: "404 503"},
		{name: "status not 200", filter: status(accesslogv3.ComparisonFilter_NE, 200),
			infos: []*streaminfo.Info{withCode(200, 0, 1), withCode(201, 0, 1)}, want: "201"},
		{name: "duration at most 10ms", filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_DurationFilter{DurationFilter: &accesslogv3.DurationFilter{
			Comparison: &accesslogv3.ComparisonFilter{Op: accesslogv3.ComparisonFilter_LE, Value: &corev3.RuntimeUInt32{DefaultValue: 10, RuntimeKey: "k"}}}}},
			infos: []*streaminfo.Info{withCode(200, 0, 5), withCode(201, 0, 50)}, want: "200"},
		{name: "any response flag", filter: flags(),
			infos: []*streaminfo.Info{withCode(200, 0, 1), withCode(503, failure.UpstreamOverflow, 1)}, want: "503"},
		{name: "listed response flags only", filter: flags("NR", "UH"),
			infos: []*streaminfo.Info{withCode(503, failure.UpstreamOverflow, 1), withCode(404, failure.NoRouteFound, 1)}, want: "404"},
		{name: "and of two filters", filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{
			Filters: []*accesslogv3.AccessLogFilter{status(accesslogv3.ComparisonFilter_GE, 500), flags("UO")}}}},
			infos: []*streaminfo.Info{withCode(503, failure.UpstreamOverflow, 1), withCode(503, 0, 1), withCode(200, failure.UpstreamOverflow, 1)}, want: "503"},
		{name: "or of two filters", filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_OrFilter{OrFilter: &accesslogv3.OrFilter{
			Filters: []*accesslogv3.AccessLogFilter{status(accesslogv3.ComparisonFilter_EQ, 201), status(accesslogv3.ComparisonFilter_EQ, 202)}}}},
			infos: []*streaminfo.Info{withCode(200, 0, 1), withCode(201, 0, 1), withCode(202, 0, 1)}, want: "201 202"},
		{name: "not health check logs everything", filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_NotHealthCheckFilter{NotHealthCheckFilter: &accesslogv3.NotHealthCheckFilter{}}},
			infos: []*streaminfo.Info{withCode(200, 0, 1)}, want: "200"},
		{name: "header prefix", filter: header(&routev3.HeaderMatcher{Name: "user-agent", HeaderMatchSpecifier: &routev3.HeaderMatcher_PrefixMatch{PrefixMatch: "nsq"}}),
			infos: []*streaminfo.Info{withCode(200, 0, 1)}, want: "200"},
		{name: "inverted header presence", filter: header(&routev3.HeaderMatcher{Name: "x-debug", InvertMatch: true}),
			infos: []*streaminfo.Info{withCode(200, 0, 1)}, want: "200"},
		{name: "header absent does not match", filter: header(&routev3.HeaderMatcher{Name: "x-debug"}),
			infos: []*streaminfo.Info{withCode(200, 0, 1)}, want: ""},
		{name: "grpc status unavailable", filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_GrpcStatusFilter{GrpcStatusFilter: &accesslogv3.GrpcStatusFilter{
			Statuses: []accesslogv3.GrpcStatusFilter_Status{accesslogv3.GrpcStatusFilter_UNAVAILABLE}}}},
			infos: []*streaminfo.Info{withCode(200, 0, 1)}, want: "200"},
		{name: "runtime sampling at zero percent", filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_RuntimeFilter{RuntimeFilter: &accesslogv3.RuntimeFilter{
			RuntimeKey: "k", PercentSampled: &typev3.FractionalPercent{Numerator: 0}}}},
			infos: []*streaminfo.Info{withCode(200, 0, 1)}, want: ""},
		{name: "runtime sampling at a hundred percent", filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_RuntimeFilter{RuntimeFilter: &accesslogv3.RuntimeFilter{
			RuntimeKey: "k", PercentSampled: &typev3.FractionalPercent{Numerator: 100}}}},
			infos: []*streaminfo.Info{withCode(200, 0, 1)}, want: "200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := logAndRead(t, textFormat("%RESPONSE_CODE%\n"), tt.filter, tt.infos...)
			if got := strings.Join(lines, " "); got != tt.want {
				t.Errorf("logged %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTranslateReportsEveryProblemWithItsPath(t *testing.T) {
	bad := []*accesslogv3.AccessLog{
		fileLog(t, "/tmp/x.log", textFormat("%NOPE%"), nil),
		{Name: "grpc", ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(t, &routev3.Route{})}},
		fileLog(t, "/tmp/x.log", nil, &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_TraceableFilter{TraceableFilter: &accesslogv3.TraceableFilter{}}}),
		fileLog(t, "", &corev3.SubstitutionFormatString{
			Format:     &corev3.SubstitutionFormatString_TextFormat{TextFormat: "x"},
			Formatters: []*corev3.TypedExtensionConfig{{Name: "f"}}}, nil),
		fileLog(t, "/tmp/x.log", nil, &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{Flags: []string{"UO", "ZZ"}}}}),
		{Name: "none"},
	}
	_, err := NewManager(nil).Translate(bad, "static_resources.listeners[0].access_log")
	var errs config.Errors
	if err == nil || !errors.As(err, &errs) {
		t.Fatalf("error = %v, want config.Errors", err)
	}
	const p = "static_resources.listeners[0].access_log"
	for _, want := range []string{
		p + "[0].typed_config.log_format: access log: unknown command operator %NOPE%",
		p + "[1].typed_config: access log: type.googleapis.com/envoy.config.route.v3.Route is not supported",
		p + "[2].filter.traceable_filter: access log: traceable_filter is not supported",
		p + "[3].typed_config.path: access log: path is required",
		p + "[3].typed_config.log_format.formatters: access log: formatter extensions are not supported",
		p + "[4].filter.response_flag_filter.flags[1]: access log: unknown response flag \"ZZ\"",
		p + "[5]: access log: typed_config is required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	if len(errs) != 7 {
		t.Errorf("got %d errors, want 7:\n%v", len(errs), err)
	}
}

func TestStdoutAndStderrLoggersTranslate(t *testing.T) {
	m := NewManager(nil)
	defer m.Close()
	ls, err := m.Translate([]*accesslogv3.AccessLog{
		{Name: "envoy.access_loggers.stdout", ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(t, &streamv3.StdoutAccessLog{})}},
		{Name: "envoy.access_loggers.stderr", ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(t, &streamv3.StderrAccessLog{
			AccessLogFormat: &streamv3.StderrAccessLog_LogFormat{LogFormat: textFormat("")}})}},
	}, "access_log")
	if err != nil || len(ls) != 2 {
		t.Fatalf("Translate = %d loggers, %v", len(ls), err)
	}
	if ls[0].sink != m.sinks["/dev/stdout"] || ls[1].sink != m.sinks["/dev/stderr"] {
		t.Error("standard stream loggers do not use the shared stream sinks")
	}
}

func TestLoggersOfOnePathShareOneSink(t *testing.T) {
	m := NewManager(nil)
	defer m.Close()
	path := filepath.Join(t.TempDir(), "a.log")
	a, err := m.Translate([]*accesslogv3.AccessLog{fileLog(t, path, nil, nil)}, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Translate([]*accesslogv3.AccessLog{fileLog(t, path, textFormat("x\n"), nil)}, "b")
	if err != nil {
		t.Fatal(err)
	}
	if a[0].sink != b[0].sink {
		t.Error("two loggers of one file opened it twice")
	}
}

func TestDroppedEntriesAreCounted(t *testing.T) {
	st := stats.NewStore()
	m := NewManager(st)
	m.limit = 10
	defer m.Close()
	path := filepath.Join(t.TempDir(), "a.log")
	ls, err := m.Translate([]*accesslogv3.AccessLog{fileLog(t, path, textFormat("0123456\n"), nil)}, "a")
	if err != nil {
		t.Fatal(err)
	}
	ls.Log(&streaminfo.Info{}) // fits
	ls.Log(&streaminfo.Info{}) // 16 bytes > 10: dropped
	ls.Flush()
	if got := st.Root().Counter("filesystem.write_dropped").Value(); got != 1 {
		t.Errorf("filesystem.write_dropped = %d, want 1", got)
	}
	if got := st.Root().Counter("filesystem.write_buffered").Value(); got != 1 {
		t.Errorf("filesystem.write_buffered = %d, want 1", got)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "0123456\n" {
		t.Errorf("file = %q", b)
	}
}

func TestReopenStartsANewFileAfterRotation(t *testing.T) {
	m := NewManager(nil)
	defer m.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	ls, err := m.Translate([]*accesslogv3.AccessLog{fileLog(t, path, textFormat("%RESPONSE_CODE%\n"), nil)}, "a")
	if err != nil {
		t.Fatal(err)
	}
	ls.Log(&streaminfo.Info{ResponseCode: 200})
	ls.Flush()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := m.Reopen(); err != nil {
		t.Fatal(err)
	}
	ls.Log(&streaminfo.Info{ResponseCode: 201})
	ls.Flush()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if string(old) != "200\n" || string(cur) != "201\n" {
		t.Errorf("rotated file %q, new file %q; want 200 and 201", old, cur)
	}
}

func TestCloseWritesWhatIsQueued(t *testing.T) {
	m := NewManager(nil)
	path := filepath.Join(t.TempDir(), "a.log")
	ls, err := m.Translate([]*accesslogv3.AccessLog{fileLog(t, path, textFormat("x\n"), nil)}, "a")
	if err != nil {
		t.Fatal(err)
	}
	ls.Log(&streaminfo.Info{})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	ls.Log(&streaminfo.Info{}) // after Close: dropped, not a panic
	if b, _ := os.ReadFile(path); string(b) != "x\n" {
		t.Errorf("file = %q, want the entry logged before Close", b)
	}
}

func BenchmarkJSONFormat(b *testing.B) {
	js, _ := structpb.NewStruct(map[string]any{
		"start_time": "%START_TIME%", "method": "%REQ(:METHOD)%", "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
		"protocol": "%PROTOCOL%", "response_code": "%RESPONSE_CODE%", "response_flags": "%RESPONSE_FLAGS%",
		"bytes_received": "%BYTES_RECEIVED%", "bytes_sent": "%BYTES_SENT%", "duration": "%DURATION%",
		"upstream_host": "%UPSTREAM_HOST%", "user_agent": "%REQ(USER-AGENT)%", "request_id": "%REQ(X-REQUEST-ID)%",
	})
	var errs config.Errors
	f := &jsonFormatter{root: compileJSON(js, "json_format", &errs)}
	if err := errs.Err(); err != nil {
		b.Fatal(err)
	}
	in := fullInfo()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = f.Append(buf[:0], in)
	}
}
