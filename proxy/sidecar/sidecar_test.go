package sidecar

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/outrider-mesh/outrider/proxy/apphealth"
	"github.com/outrider-mesh/outrider/proxy/server"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

// freePorts returns n ports nothing listens on right now.
func freePorts(t *testing.T, n int) []uint16 {
	t.Helper()
	var lns []net.Listener
	var ports []uint16
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, uint16(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// running is an in-process sidecar with its ports moved to free ones.
type running struct {
	opts  Options
	srv   *server.Server
	ports *Ports
}

func (r *running) admin(path string) string {
	return "http://127.0.0.1:" + port(r.opts.AdminPort) + path
}
func (r *running) health(path string) string {
	return "http://127.0.0.1:" + port(r.opts.HealthPort) + path
}
func (r *running) metrics(path string) string {
	return "http://127.0.0.1:" + port(r.opts.MetricsPort) + path
}
func (r *running) outbound() string               { return "127.0.0.1:" + port(r.opts.OutboundPort) }
func (r *running) inbound() string                { return "127.0.0.1:" + port(r.opts.InboundPort) }
func port(p uint16) string                        { return strconv.Itoa(int(p)) }
func (r *running) counter(name string) (v uint64) { return counterIn(r.srv.Stats(), name) }

func counterIn(st *stats.Store, name string) (v uint64) {
	st.Each(func(c *stats.Counter) {
		if c.Name == name {
			v = c.Value()
		}
	}, nil, nil)
	return v
}

// startSidecar runs the sidecar the way `outrider-proxy --sidecar` does:
// the server from the generated bootstrap, then its health and metrics
// ports.
func startSidecar(t *testing.T, o Options, e Endpoints) *running {
	t.Helper()
	p := freePorts(t, 5)
	o.OutboundPort, o.InboundPort, o.AdminPort, o.HealthPort, o.MetricsPort = p[0], p[1], p[2], p[3], p[4]
	o.AccessLog = "off"
	b, err := Bootstrap(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{
		Load:      func() (*bootstrapv3.Bootstrap, error) { return b, nil },
		DrainTime: time.Second,
		Identity:  o.Identity(),
	})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(srv.Close)
	e.Ready = srv.Admin().ReadyHandler()
	e.Stats = srv.Stats()
	ports, err := ListenPorts(o, e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ports.Close() })
	return &running{opts: o, srv: srv, ports: ports}
}

func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTheSidecarServesReadinessOnItsHealthPortUntilItsHealthCheckFails(t *testing.T) {
	r := startSidecar(t, Options{}, Endpoints{})
	if code, body := get(t, "GET", r.health(ReadyPath)); code != 200 || !strings.Contains(body, "LIVE") {
		t.Fatalf("ready: %d %q, want 200 LIVE", code, body)
	}
	get(t, "POST", r.admin("/healthcheck/fail"))
	if code, _ := get(t, "GET", r.health(ReadyPath)); code != 503 {
		t.Fatalf("ready after /healthcheck/fail: %d, want 503", code)
	}
	if code, _ := get(t, "GET", r.health("/stats")); code != 404 {
		t.Errorf("the health port serves /stats (%d): it must expose nothing else", code)
	}
}

func TestTheHealthPortRunsTheApplicationsProbes(t *testing.T) {
	app, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	go func() {
		for {
			c, err := app.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	appPort := app.Addr().(*net.TCPAddr).Port
	h, err := apphealth.New(apphealth.Config{PodIP: "127.0.0.1", Probes: map[string]apphealth.Probe{
		apphealth.Path("web", "livez"): {TCPSocket: &apphealth.TCPSocketAction{Port: appPort}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := startSidecar(t, Options{}, Endpoints{AppHealth: h})
	if code, body := get(t, "GET", r.health(apphealth.Path("web", "livez"))); code != 200 {
		t.Fatalf("app probe: %d %q, want 200", code, body)
	}
}

func TestThePrometheusPortShowsTheProxysStats(t *testing.T) {
	r := startSidecar(t, Options{}, Endpoints{})
	code, body := get(t, "GET", r.metrics(PrometheusPath))
	if code != 200 {
		t.Fatalf("%d", code)
	}
	for _, want := range []string{
		"envoy_listener_http_inspector_fallback_tcp{",
		`envoy_cluster_upstream_cx_total{envoy_cluster_name="PassthroughCluster"}`,
		"envoy_server_state",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in /stats/prometheus", want)
		}
	}
	if code, _ := get(t, "GET", r.metrics("/config_dump")); code != 404 {
		t.Errorf("the metrics port serves /config_dump (%d)", code)
	}
}

func TestServerInfoShowsThePodIdentityAndConfigDumpTheBootstrap(t *testing.T) {
	r := startSidecar(t, Options{PodName: "web-1", PodNamespace: "shop", PodIP: "10.1.2.3", ServiceAccount: "web"}, Endpoints{})
	_, body := get(t, "GET", r.admin("/server_info"))
	var info struct {
		Pod map[string]string `json:"pod"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := map[string]string{"pod_name": "web-1", "pod_namespace": "shop", "pod_ip": "10.1.2.3",
		"service_account": "web", "spiffe_id": "spiffe://cluster.local/ns/shop/sa/web"}
	for k, v := range want {
		if info.Pod[k] != v {
			t.Errorf("server_info pod.%s = %q, want %q", k, info.Pod[k], v)
		}
	}
	_, dump := get(t, "GET", r.admin("/config_dump"))
	for _, want := range []string{`"virtualOutbound"`, `"virtualInbound"`, "InboundPassthroughClusterIpv4",
		"outrider.extensions.filters.http.destination_stats.v1.DestinationStats", `"127.0.0.6"`} {
		if !strings.Contains(dump, want) {
			t.Errorf("config_dump lacks %s", want)
		}
	}
}

func TestAConnectionMadeToACapturePortItselfIsClosedNotLooped(t *testing.T) {
	r := startSidecar(t, Options{}, Endpoints{})
	for _, target := range []string{r.outbound(), r.inbound()} {
		c, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Errorf("%s: read %q, %v; want the connection closed", target, b, err)
		}
		c.Close()
	}
	if n := r.counter("tcp.BlackHoleCluster.downstream_cx_total"); n != 2 {
		t.Errorf("tcp.BlackHoleCluster.downstream_cx_total = %d, want 2", n)
	}
	if n := r.counter("cluster.PassthroughCluster.upstream_cx_total"); n != 0 {
		t.Errorf("the proxy connected upstream %d times", n)
	}
}
