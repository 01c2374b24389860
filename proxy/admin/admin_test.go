package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// fakeServer records what the admin API asked of it.
type fakeServer struct {
	mu        sync.Mutex
	state     State
	quits     chan struct{}
	drains    []string
	hcChanges []bool
	level     slog.LevelVar
	store     *stats.Store
}

func newFakeServer() *fakeServer {
	st := stats.NewStore()
	stats.ClusterScope(st, "backend").Counter("upstream_rq_total").Add(7)
	stats.ClusterScope(st, "backend").Counter("upstream_cx_total")
	stats.HTTPScope(st, "ingress").Gauge("downstream_rq_active").Set(1)
	return &fakeServer{state: Live, quits: make(chan struct{}, 1), store: st}
}

func (f *fakeServer) hooks() Hooks {
	return Hooks{
		Stats: f.store,
		State: func() State { f.mu.Lock(); defer f.mu.Unlock(); return f.state },
		HealthCheckChanged: func(failed bool) {
			f.mu.Lock()
			f.hcChanges = append(f.hcChanges, failed)
			f.mu.Unlock()
		},
		ConfigDump: func() ([]byte, error) { return []byte(`{"configs":[]}` + "\n"), nil },
		Clusters: func(w io.Writer, asJSON bool) {
			if asJSON {
				io.WriteString(w, `{"cluster_statuses":[{"name":"backend"}]}`)
				return
			}
			io.WriteString(w, "backend::10.0.0.1:80::cx_active::0\n")
		},
		Listeners: func(w io.Writer, asJSON bool) {
			if asJSON {
				io.WriteString(w, `{"listener_statuses":[]}`)
				return
			}
			io.WriteString(w, "ingress::0.0.0.0:10000\n")
		},
		ServerInfo: func() any {
			return &adminv3.ServerInfo{Version: "test", State: adminv3.ServerInfo_LIVE,
				UptimeCurrentEpoch: durationpb.New(3 * time.Second), HotRestartVersion: "disabled"}
		},
		Quit: func() { f.quits <- struct{}{} },
		DrainListeners: func(graceful, inbound bool) {
			f.mu.Lock()
			f.drains = append(f.drains, fmt.Sprintf("graceful=%v inbound=%v", graceful, inbound))
			f.mu.Unlock()
		},
		LogLevel:   &f.level,
		ReopenLogs: func() error { return nil },
	}
}

// serve starts the admin API on a loopback port and returns its base URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	s, err := Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "http://" + s.Addr().String()
}

type reply struct {
	status int
	body   string
	ctype  string
}

func call(t *testing.T, method, url string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, body: string(b), ctype: resp.Header.Get("Content-Type")}
}

func TestEndpointsAnswerAsEnvoy(t *testing.T) {
	f := newFakeServer()
	base := serve(t, New(f.hooks()))
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantBody   string // exact, unless wantPrefix or wantContains
		wantPrefix string
		contains   []string
		wantJSON   bool
	}{
		{name: "ready when live", method: "GET", path: "/ready", wantStatus: 200, wantBody: "LIVE\n"},
		{name: "stats text", method: "GET", path: "/stats", wantStatus: 200,
			wantBody: "cluster.backend.upstream_cx_total: 0\ncluster.backend.upstream_rq_total: 7\nhttp.ingress.downstream_rq_active: 1\n"},
		{name: "stats filtered and used only", method: "GET", path: "/stats?filter=backend&usedonly", wantStatus: 200,
			wantBody: "cluster.backend.upstream_rq_total: 7\n"},
		{name: "stats of one type", method: "GET", path: "/stats?type=Gauges", wantStatus: 200,
			wantBody: "http.ingress.downstream_rq_active: 1\n"},
		{name: "stats as json", method: "GET", path: "/stats?format=json&filter=rq_total", wantStatus: 200, wantJSON: true,
			wantBody: `{"stats":[{"name":"cluster.backend.upstream_rq_total","value":7}]}` + "\n"},
		{name: "stats as prometheus", method: "GET", path: "/stats?format=prometheus&filter=rq_total", wantStatus: 200,
			wantBody: "# TYPE envoy_cluster_upstream_rq_total counter\nenvoy_cluster_upstream_rq_total{envoy_cluster_name=\"backend\"} 7\n\n"},
		{name: "stats with a bad regex", method: "GET", path: "/stats?filter=(", wantStatus: 400, wantPrefix: "invalid filter regex"},
		{name: "stats with a bad format", method: "GET", path: "/stats?format=xml", wantStatus: 400, wantBody: "invalid format: xml\n"},
		{name: "prometheus", method: "GET", path: "/stats/prometheus", wantStatus: 200,
			contains: []string{"# TYPE envoy_http_downstream_rq_active gauge\nenvoy_http_downstream_rq_active{envoy_http_conn_manager_prefix=\"ingress\"} 1\n"}},
		{name: "config dump", method: "GET", path: "/config_dump", wantStatus: 200, wantJSON: true, wantBody: `{"configs":[]}` + "\n"},
		{name: "config dump refuses resource selection", method: "GET", path: "/config_dump?resource=dynamic_listeners", wantStatus: 400,
			wantBody: "config_dump: query parameter resource is not supported\n"},
		{name: "clusters text", method: "GET", path: "/clusters", wantStatus: 200, wantBody: "backend::10.0.0.1:80::cx_active::0\n"},
		{name: "clusters json", method: "GET", path: "/clusters?format=json", wantStatus: 200, wantJSON: true, wantBody: `{"cluster_statuses":[{"name":"backend"}]}`},
		{name: "listeners text", method: "GET", path: "/listeners", wantStatus: 200, wantBody: "ingress::0.0.0.0:10000\n"},
		{name: "listeners json", method: "GET", path: "/listeners?format=json", wantStatus: 200, wantJSON: true, wantBody: `{"listener_statuses":[]}`},
		{name: "server info", method: "GET", path: "/server_info", wantStatus: 200, wantJSON: true,
			contains: []string{`"version": "test"`, `"state": "LIVE"`, `"uptime_current_epoch": "3s"`}},
		{name: "memory", method: "GET", path: "/memory", wantStatus: 200, wantJSON: true, contains: []string{`"allocated": "`}},
		{name: "help", method: "GET", path: "/help", wantStatus: 200, wantPrefix: "admin commands are:\n  /: Admin home page\n",
			contains: []string{"  /quitquitquit (POST): exit the server\n", "  /drain_listeners (POST): drain listeners\n      graceful: "}},
		{name: "an unknown path", method: "GET", path: "/nope", wantStatus: 404, wantPrefix: "invalid path. admin commands are:\n"},
		{name: "a mutating endpoint refuses GET", method: "GET", path: "/quitquitquit", wantStatus: 405, wantBody: "Method GET not allowed, POST required."},
		{name: "drain refuses PUT", method: "PUT", path: "/drain_listeners", wantStatus: 405, wantBody: "Method PUT not allowed, POST required."},
		{name: "logging lists on GET", method: "GET", path: "/logging", wantStatus: 200, wantBody: "active loggers:\n  outrider: info\n\n"},
		{name: "logging refuses a change by GET", method: "GET", path: "/logging?level=debug", wantStatus: 405},
		{name: "logging refuses an unknown level", method: "POST", path: "/logging?level=loud", wantStatus: 400, wantPrefix: "error: unknown logger level\n\nusage:"},
		{name: "logging refuses per-logger changes", method: "POST", path: "/logging?router=debug", wantStatus: 400, wantPrefix: "error: only level=<level> is supported"},
		{name: "reopen logs", method: "POST", path: "/reopen_logs", wantStatus: 200, wantBody: "OK\n"},
		{name: "drain refuses skip_exit", method: "POST", path: "/drain_listeners?skip_exit", wantStatus: 400, wantBody: "skip_exit is not supported\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, base+tt.path)
			if r.status != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %q)", r.status, tt.wantStatus, r.body)
			}
			switch {
			case tt.wantBody != "" && r.body != tt.wantBody:
				t.Errorf("body = %q, want %q", r.body, tt.wantBody)
			case tt.wantPrefix != "" && !strings.HasPrefix(r.body, tt.wantPrefix):
				t.Errorf("body = %q, want prefix %q", r.body, tt.wantPrefix)
			}
			for _, c := range tt.contains {
				if !strings.Contains(r.body, c) {
					t.Errorf("body lacks %q:\n%s", c, r.body)
				}
			}
			if tt.wantJSON {
				if r.ctype != "application/json" {
					t.Errorf("content type = %q, want application/json", r.ctype)
				}
				if !json.Valid([]byte(r.body)) {
					t.Errorf("body is not JSON: %s", r.body)
				}
			} else if r.ctype != "text/plain; charset=UTF-8" {
				t.Errorf("content type = %q, want text/plain; charset=UTF-8", r.ctype)
			}
		})
	}
}

func TestHealthCheckFailTurnsReadyToDraining(t *testing.T) {
	f := newFakeServer()
	a := New(f.hooks())
	base := serve(t, a)
	steps := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"POST", "/healthcheck/fail", 200, "OK\n"},
		{"GET", "/ready", 503, "DRAINING\n"},
		{"POST", "/healthcheck/fail", 200, "OK\n"},
		{"POST", "/healthcheck/ok", 200, "OK\n"},
		{"GET", "/ready", 200, "LIVE\n"},
	}
	for i, s := range steps {
		r := call(t, s.method, base+s.path)
		if r.status != s.wantStatus || r.body != s.wantBody {
			t.Fatalf("step %d %s %s = %d %q, want %d %q", i, s.method, s.path, r.status, r.body, s.wantStatus, s.wantBody)
		}
		if i == 1 {
			if info := call(t, "GET", base+"/server_info"); !strings.Contains(info.body, `"state": "DRAINING"`) {
				t.Errorf("server_info during a failed health check:\n%s", info.body)
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fmt.Sprint(f.hcChanges) != "[true false]" {
		t.Errorf("health-check hook saw %v, want [true false] (a repeated fail is no change)", f.hcChanges)
	}
}

func TestReadyReportsTheServerState(t *testing.T) {
	for _, st := range []State{PreInitializing, Initializing, Draining, Live} {
		t.Run(string(st), func(t *testing.T) {
			f := newFakeServer()
			f.state = st
			base := serve(t, New(f.hooks()))
			r := call(t, "GET", base+"/ready")
			want := 503
			if st == Live {
				want = 200
			}
			if r.status != want || r.body != string(st)+"\n" {
				t.Errorf("/ready = %d %q, want %d %q", r.status, r.body, want, st+"\n")
			}
		})
	}
}

func TestCommandsCallTheirHooks(t *testing.T) {
	f := newFakeServer()
	base := serve(t, New(f.hooks()))
	if r := call(t, "POST", base+"/drain_listeners?graceful&inboundonly"); r.status != 200 || r.body != "OK\n" {
		t.Fatalf("drain = %d %q", r.status, r.body)
	}
	if r := call(t, "POST", base+"/drain_listeners"); r.status != 200 {
		t.Fatalf("drain = %d %q", r.status, r.body)
	}
	f.mu.Lock()
	if got := strings.Join(f.drains, "; "); got != "graceful=true inbound=true; graceful=false inbound=false" {
		t.Errorf("drains = %q", got)
	}
	f.mu.Unlock()

	if r := call(t, "POST", base+"/logging?level=debug"); r.status != 200 || r.body != "active loggers:\n  outrider: debug\n\n" {
		t.Errorf("logging = %d %q", r.status, r.body)
	}
	if f.level.Level() != slog.LevelDebug {
		t.Errorf("log level = %v, want debug", f.level.Level())
	}

	if r := call(t, "POST", base+"/reset_counters"); r.status != 200 || r.body != "OK\n" {
		t.Errorf("reset_counters = %d %q", r.status, r.body)
	}
	if r := call(t, "GET", base+"/stats?filter=upstream_rq_total"); r.body != "cluster.backend.upstream_rq_total: 0\n" {
		t.Errorf("after reset: %q", r.body)
	}

	if r := call(t, "POST", base+"/quitquitquit"); r.status != 200 || r.body != "OK\n" {
		t.Errorf("quitquitquit = %d %q", r.status, r.body)
	}
	select {
	case <-f.quits:
	case <-time.After(10 * time.Second):
		t.Fatal("Quit was not called")
	}
}

func TestEndpointsWithoutHooksAnswerNotImplemented(t *testing.T) {
	base := serve(t, New(Hooks{}))
	for _, p := range []string{"/stats", "/stats/prometheus", "/config_dump", "/clusters", "/listeners", "/server_info", "/certs"} {
		if r := call(t, "GET", base+p); r.status != 501 || r.body != p+": not available\n" {
			t.Errorf("GET %s = %d %q, want 501", p, r.status, r.body)
		}
	}
	for _, p := range []string{"/quitquitquit", "/drain_listeners", "/logging", "/reopen_logs", "/reset_counters"} {
		if r := call(t, "POST", base+p); r.status != 501 {
			t.Errorf("POST %s = %d %q, want 501", p, r.status, r.body)
		}
	}
	if r := call(t, "GET", base+"/ready"); r.status != 200 || r.body != "LIVE\n" {
		t.Errorf("/ready without a State hook = %d %q, want LIVE", r.status, r.body)
	}
}

func TestSidecarPortsServeReadinessAndPrometheusOnly(t *testing.T) {
	f := newFakeServer()
	a := New(f.hooks())
	mux := http.NewServeMux()
	mux.Handle("/healthz/ready", a.ReadyHandler())
	health := serve(t, mux)
	prom := http.NewServeMux()
	prom.Handle("/stats/prometheus", PrometheusHandler(f.store))
	metrics := serve(t, prom)

	if r := call(t, "GET", health+"/healthz/ready"); r.status != 200 || r.body != "LIVE\n" {
		t.Errorf("healthz = %d %q", r.status, r.body)
	}
	a.failed.Store(true)
	if r := call(t, "GET", health+"/healthz/ready"); r.status != 503 {
		t.Errorf("healthz with a failed health check = %d %q, want 503", r.status, r.body)
	}
	f.mu.Lock()
	f.state = Draining
	f.mu.Unlock()
	a.failed.Store(false)
	if r := call(t, "GET", health+"/healthz/ready"); r.status != 503 || r.body != "DRAINING\n" {
		t.Errorf("healthz while draining = %d %q, want 503", r.status, r.body)
	}

	if r := call(t, "GET", metrics+"/stats/prometheus?filter=upstream_rq_total"); r.status != 200 ||
		r.body != "# TYPE envoy_cluster_upstream_rq_total counter\nenvoy_cluster_upstream_rq_total{envoy_cluster_name=\"backend\"} 7\n\n" {
		t.Errorf("prometheus port = %d %q", r.status, r.body)
	}
	if r := call(t, "GET", metrics+"/stats"); r.status != 404 {
		t.Errorf("the prometheus port served /stats: %d", r.status)
	}
}

func TestShutdownWaitsForARequestInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	s, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan reply, 1)
	go func() { got <- call(t, "GET", "http://"+s.Addr().String()+"/") }()
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	close(release)
	if r := <-got; r.body != "done" {
		t.Errorf("in-flight request got %q", r.body)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if _, err := http.Get("http://" + s.Addr().String() + "/"); err == nil {
		t.Error("the server still accepts after Shutdown")
	}
}

// logRecorder keeps the streams an access logger is given.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Log(in *streaminfo.Info) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%s %s %d %d %v", in.Request.Method, in.Request.URL.Path, in.ResponseCode, in.BytesSent.Load(), in.DownstreamRemote.Addr()))
}

func TestAdminRequestsAreAccessLogged(t *testing.T) {
	f := newFakeServer()
	h := f.hooks()
	logs := &logRecorder{}
	h.AccessLog = logs
	base := serve(t, New(h))
	call(t, "GET", base+"/ready")
	call(t, "GET", base+"/quitquitquit")
	logs.mu.Lock()
	defer logs.mu.Unlock()
	want := []string{"GET /ready 200 5 127.0.0.1", "GET /quitquitquit 405 38 127.0.0.1"}
	if strings.Join(logs.lines, "|") != strings.Join(want, "|") {
		t.Errorf("logged %q, want %q", logs.lines, want)
	}
}
