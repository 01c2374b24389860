package apphealth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// port returns the port of a listener address such as "127.0.0.1:43121".
func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := port(t, l.Addr().String())
	l.Close()
	return p
}

// app is a real HTTP application with the endpoints the probes below hit.
func app(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	mux.HandleFunc("/redirect-here", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/fail", http.StatusFound) })
	mux.HandleFunc("/redirect-away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "app.example" || r.Header.Get("X-Probe") != "yes" || r.Header.Get("User-Agent") != "custom" ||
			r.Header.Get("Accept") != "*/*" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "host=%q headers=%v", r.Host, r.Header)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// grpcApp is a real gRPC server with the standard health service.
func grpcApp(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("billing", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return port(t, l.Addr().String())
}

func TestHandlerRunsTheOriginalProbeAgainstTheApplication(t *testing.T) {
	web := app(t)
	tlsApp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(tlsApp.Close)
	webPort, tlsPort, grpcPort, closed := port(t, web.URL), port(t, tlsApp.URL), grpcApp(t), closedPort(t)
	str := func(s string) *string { return &s }

	tests := []struct {
		name       string
		probe      Probe
		wantStatus int
	}{
		{name: "http probe succeeds on a 2xx", probe: Probe{HTTPGet: &HTTPGetAction{Path: "/ok", Port: webPort}}, wantStatus: 200},
		{name: "http probe passes the application's failure status through", probe: Probe{HTTPGet: &HTTPGetAction{Path: "/fail", Port: webPort}}, wantStatus: 500},
		{name: "http probe follows a redirect on the same host", probe: Probe{HTTPGet: &HTTPGetAction{Path: "/redirect-here", Port: webPort}}, wantStatus: 500},
		{name: "http probe counts a redirect to another host as success", probe: Probe{HTTPGet: &HTTPGetAction{Path: "/redirect-away", Port: webPort}}, wantStatus: 200},
		{name: "http probe sends the probe's headers and host", probe: Probe{HTTPGet: &HTTPGetAction{Path: "/headers", Port: webPort, HTTPHeaders: []HTTPHeader{
			{Name: "Host", Value: "app.example"}, {Name: "X-Probe", Value: "yes"}, {Name: "user-agent", Value: "custom"}}}}, wantStatus: 200},
		{name: "http probe fails when the application does not answer in time", probe: Probe{HTTPGet: &HTTPGetAction{Path: "/slow", Port: webPort}, TimeoutSeconds: 1}, wantStatus: 503},
		{name: "http probe fails when nothing listens", probe: Probe{HTTPGet: &HTTPGetAction{Path: "/ok", Port: closed}}, wantStatus: 503},
		{name: "https probe does not verify the certificate, like the kubelet", probe: Probe{HTTPGet: &HTTPGetAction{Port: tlsPort, Scheme: "HTTPS"}}, wantStatus: 200},
		{name: "http probe uses its own host when given", probe: Probe{HTTPGet: &HTTPGetAction{Path: "/ok", Port: webPort, Host: "127.0.0.1"}}, wantStatus: 200},
		{name: "tcp probe succeeds when the port accepts", probe: Probe{TCPSocket: &TCPSocketAction{Port: webPort}}, wantStatus: 200},
		{name: "tcp probe fails when nothing listens", probe: Probe{TCPSocket: &TCPSocketAction{Port: closed}}, wantStatus: 503},
		{name: "grpc probe succeeds when the server is SERVING", probe: Probe{GRPC: &GRPCAction{Port: grpcPort}}, wantStatus: 200},
		{name: "grpc probe asks about the named service", probe: Probe{GRPC: &GRPCAction{Port: grpcPort, Service: str("orders")}}, wantStatus: 200},
		{name: "grpc probe fails when the service is NOT_SERVING", probe: Probe{GRPC: &GRPCAction{Port: grpcPort, Service: str("billing")}}, wantStatus: 503},
		{name: "grpc probe fails for an unknown service", probe: Probe{GRPC: &GRPCAction{Port: grpcPort, Service: str("nope")}}, wantStatus: 503},
		{name: "grpc probe fails when nothing listens", probe: Probe{GRPC: &GRPCAction{Port: closed}}, wantStatus: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(Config{Probes: map[string]Probe{Path("web", "livez"): tt.probe}, PodIP: "127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/app-health/web/livez")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
}

func TestHandlerAnswersOnlyItsProbePaths(t *testing.T) {
	web := app(t)
	h, err := New(Config{Probes: map[string]Probe{Path("web", "readyz"): {HTTPGet: &HTTPGetAction{Path: "/ok", Port: port(t, web.URL)}}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path string
		wantStatus         int
	}{
		{name: "a configured path runs its probe", method: "GET", path: "/app-health/web/readyz", wantStatus: 200},
		{name: "HEAD works like GET", method: "HEAD", path: "/app-health/web/readyz", wantStatus: 200},
		{name: "another kind of the same container is not found", method: "GET", path: "/app-health/web/livez", wantStatus: 404},
		{name: "an unknown container is not found", method: "GET", path: "/app-health/other/readyz", wantStatus: 404},
		{name: "POST is refused", method: "POST", path: "/app-health/web/readyz", wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
		})
	}
}

func TestConfigErrorsNameTheProbe(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		wantErr []string
	}{
		{name: "invalid JSON is an error", env: `{"/app-health/a/livez":`, wantErr: []string{EnvProbes}},
		{name: "unknown fields are rejected", env: `{"/app-health/a/livez":{"exec":{"command":["true"]}}}`, wantErr: []string{`unknown field "exec"`}},
		{name: "a probe needs exactly one action", env: `{"/app-health/a/livez":{"httpGet":{"port":1},"tcpSocket":{"port":2}}}`, wantErr: []string{"/app-health/a/livez: want exactly one"}},
		{name: "ports must be in range", env: `{"/app-health/a/livez":{"tcpSocket":{"port":0}},"/app-health/b/readyz":{"grpc":{"port":70000}}}`,
			wantErr: []string{"/app-health/a/livez.tcpSocket.port: 0", "/app-health/b/readyz.grpc.port: 70000"}},
		{name: "schemes are HTTP or HTTPS", env: `{"/app-health/a/livez":{"httpGet":{"port":80,"scheme":"FTP"}}}`, wantErr: []string{"httpGet.scheme"}},
		{name: "paths live below /app-health/", env: `{"/healthz":{"tcpSocket":{"port":80}}}`, wantErr: []string{"/healthz: path must start with /app-health/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := FromEnv(func(k string) string {
				if k == EnvProbes {
					return tt.env
				}
				return ""
			})
			if err == nil {
				_, err = New(cfg)
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestFromEnvReadsProbesAndPodIP(t *testing.T) {
	env := map[string]string{EnvProbes: `{"/app-health/a/startupz":{"grpc":{"port":9090,"service":"x"},"timeoutSeconds":3}}`, EnvPodIP: "10.1.2.3"}
	cfg, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Probes["/app-health/a/startupz"]
	if cfg.PodIP != "10.1.2.3" || p.GRPC == nil || p.GRPC.Port != 9090 || *p.GRPC.Service != "x" || p.TimeoutSeconds != 3 {
		t.Errorf("got %+v", cfg)
	}
	empty, err := FromEnv(func(string) string { return "" })
	if err != nil || len(empty.Probes) != 0 {
		t.Errorf("empty environment: %+v, %v", empty, err)
	}
	if _, err := New(empty); err != nil {
		t.Errorf("no probes is a valid config: %v", err)
	}
}

func TestWaitReturnsOnceTheProxyIsReady(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := Wait(context.Background(), srv.URL+"/healthz/ready", 0); err != nil {
		t.Fatal(err)
	}
	if calls != 3 {
		t.Errorf("polled %d times, want 3", calls)
	}
}

func TestWaitGivesUpWithTheLastAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{name: "a proxy that stays unready", url: srv.URL, wantErr: "status 503"},
		{name: "nothing listening", url: fmt.Sprintf("http://127.0.0.1:%d/healthz/ready", closedPort(t)), wantErr: "connection refused"},
		{name: "a malformed URL fails at once", url: "http://[::1", wantErr: "wait:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Wait(context.Background(), tt.url, 200e6)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, srv.URL, 0); err == nil {
		t.Error("a cancelled context must end the wait")
	}
}
