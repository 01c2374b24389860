package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// podEnv is the environment of proxy/sidecar's golden bootstrap.
var podEnv = map[string]string{
	"POD_NAME":        "reviews-v1-7d4f9c8b5-x2x9k",
	"POD_NAMESPACE":   "bookinfo",
	"POD_IP":          "10.244.1.7",
	"SERVICE_ACCOUNT": "reviews",
	"NODE_NAME":       "node-1",
}

func setPodEnv(t *testing.T) {
	for _, k := range []string{"INSTANCE_IPS", "INSTANCE_IP", "TRUST_DOMAIN", "OUTRIDER_OPAQUE_PORTS", "OUTRIDER_PROTOCOL_DETECTION_TIMEOUT"} {
		t.Setenv(k, "")
	}
	for k, v := range podEnv {
		t.Setenv(k, v)
	}
}

func TestBootstrapSidecarPrintsTheGoldenBootstrap(t *testing.T) {
	setPodEnv(t)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"bootstrap", "--sidecar", "--ipv6", "off"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want, err := os.ReadFile("../../proxy/sidecar/testdata/sidecar-bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), want) {
		t.Fatalf("bootstrap --sidecar differs from proxy/sidecar/testdata/sidecar-bootstrap.yaml:\n%s", stdout.String())
	}
}

func TestSidecarCommandLines(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		out, error string
	}{
		{name: "--sidecar --validate checks the built-in bootstrap", args: []string{"--sidecar", "--validate"},
			code: 0, out: "sidecar configuration OK"},
		{name: "--sidecar with -c is refused", args: []string{"--sidecar", "-c", "x.yaml"},
			code: 2, error: "--sidecar builds its own configuration; drop -c"},
		{name: "bootstrap without --sidecar says how to use it", args: []string{"bootstrap"},
			code: 2, error: "usage: outrider-proxy bootstrap --sidecar"},
		{name: "a bad opaque port list is refused", args: []string{"bootstrap", "--sidecar", "--opaque-ports", "25,x"},
			code: 2, error: `--opaque-ports: "x" is not a port number`},
		{name: "a bad environment variable is refused", args: []string{"bootstrap", "--sidecar"},
			env:  map[string]string{"OUTRIDER_PROTOCOL_DETECTION_TIMEOUT": "soon"},
			code: 2, error: `OUTRIDER_PROTOCOL_DETECTION_TIMEOUT: "soon" is not a positive duration`},
		{name: "contradictory ports are refused", args: []string{"bootstrap", "--sidecar", "--inbound-port", "15001"},
			code: 1, error: "the outbound and inbound ports are both 15001"},
		{name: "flags win over the environment", args: []string{"bootstrap", "--sidecar", "--opaque-ports", "none", "--protocol-detection-timeout", "2s"},
			env:  map[string]string{"OUTRIDER_OPAQUE_PORTS": "3306"},
			code: 0, out: "listener_filters_timeout: 2s"},
		{name: "wait gives up after its timeout", args: []string{"wait", "--url", "http://127.0.0.1:1/healthz/ready", "--timeout", "100ms"},
			code: 1, error: "not ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.error) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, %q, %q", code, stdout.String(), stderr.String(), tt.code, tt.out, tt.error)
			}
			if strings.Contains(tt.name, "flags win") && strings.Contains(stdout.String(), "filter_disabled") {
				t.Error("--opaque-ports none left a filter_disabled")
			}
		})
	}
}

func TestWaitReturnsOnceTheURLAnswers200(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := time.Now().Add(100 * time.Millisecond)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if time.Now().Before(ready) {
			w.WriteHeader(503)
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	url := "http://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/healthz/ready"
	if code := run([]string{"wait", "--url", url, "--timeout", "10s"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "ready") {
		t.Errorf("stdout %q", stdout.String())
	}
}

func TestTheSidecarBinaryServesItsPortsAndDrainsOnSIGTERM(t *testing.T) {
	ports := make([]string, 5)
	for i := range ports {
		ports[i] = strconv.Itoa(freePort(t))
	}
	p := start(t, atoi(ports[2]), "--sidecar", "--ipv6", "off", "--access-log", "off", "--drain-time", "3s",
		"--outbound-port", ports[0], "--inbound-port", ports[1], "--admin-port", ports[2],
		"--health-port", ports[3], "--metrics-port", ports[4])
	get := func(url string) int {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The health and metrics ports open just after the admin API turns LIVE.
	waitFor(t, "/healthz/ready to answer 200", func() bool {
		return get("http://127.0.0.1:"+ports[3]+"/healthz/ready") == 200
	})
	if code := get("http://127.0.0.1:" + ports[4] + "/stats/prometheus"); code != 200 {
		t.Fatalf("/stats/prometheus: %d", code)
	}
	p.signal(syscall.SIGTERM)
	// Draining: not ready any more while the drain time runs. The signal
	// is handled asynchronously; the drain time leaves ample room.
	for code := 200; code != 503; {
		if code = get("http://127.0.0.1:" + ports[3] + "/healthz/ready"); code != 200 && code != 503 {
			t.Fatalf("/healthz/ready while draining: %d, want 503", code)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !p.exited(10 * time.Second) {
		t.Fatal("the sidecar did not exit after its drain time")
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
