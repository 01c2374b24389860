package sidecar

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/proxy/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenEnv is the environment the injector gives a pod, for the golden
// bootstrap.
var goldenEnv = map[string]string{
	EnvPodName:        "reviews-v1-7d4f9c8b5-x2x9k",
	EnvPodNamespace:   "bookinfo",
	EnvPodIP:          "10.244.1.7",
	EnvServiceAccount: "reviews",
	EnvNodeName:       "node-1",
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./proxy/sidecar -update and review the diff", path)
	}
}

func TestTheDefaultBootstrapMatchesTheGoldenFileAndValidates(t *testing.T) {
	o, err := FromEnv(func(k string) string { return goldenEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bootstrap(o)
	if err != nil {
		t.Fatal(err)
	}
	y, err := YAML(b)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sidecar-bootstrap.yaml", y)
	// What --validate does with the file.
	if _, err := config.Parse(y, "sidecar-bootstrap.yaml"); err != nil {
		t.Fatalf("config.Parse rejects the sidecar bootstrap:\n%v", err)
	}
}

func TestEveryVariantOfTheBootstrapValidates(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{name: "the zero options", opts: Options{}},
		{name: "dual stack", opts: Options{DualStack: true, PodIP: "10.0.0.1", InstanceIPs: []string{"10.0.0.1", "fd00::1"}}},
		{name: "moved ports", opts: Options{OutboundPort: 20001, InboundPort: 20006, AdminPort: 20000, HealthPort: 20021, MetricsPort: 20090}},
		{name: "no opaque port", opts: Options{OpaquePorts: []uint16{}}},
		{name: "one opaque port", opts: Options{OpaquePorts: []uint16{3306}}},
		{name: "HTTP-only inbound ports", opts: Options{HTTPOnlyInboundPorts: []uint16{8080, 9080}, DualStack: true}},
		{name: "access logs off", opts: Options{AccessLog: "off"}},
		{name: "access logs to a file", opts: Options{AccessLog: "/var/log/outrider/access.log"}},
		{name: "a short detection timeout", opts: Options{DetectionTimeout: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Bootstrap(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			y, err := YAML(b)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Parse(y, tt.name); err != nil {
				t.Fatalf("config.Parse rejects it:\n%v\n%s", err, y)
			}
		})
	}
}

func TestContradictoryOptionsAreRejected(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "two ports alike", opts: Options{InboundPort: 15001}, want: "the outbound and inbound ports are both 15001"},
		{name: "an opaque HTTP-only port", opts: Options{HTTPOnlyInboundPorts: []uint16{3306}}, want: "port 3306 cannot be both opaque and HTTP-only"},
		{name: "an HTTP-only port of the proxy's own", opts: Options{HTTPOnlyInboundPorts: []uint16{15021}}, want: "port 15021 is one of the proxy's own"},
		{name: "a negative detection timeout", opts: Options{DetectionTimeout: -time.Second}, want: "is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Bootstrap(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
