package peers

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/server"
)

var update = flag.Bool("update", false, "rewrite the golden configuration files")

func goldenConfig(dir string) Config {
	return Config{
		Upstreams: Upstreams{
			HTTP: Addr{Host: "127.0.0.1", Port: 18080},
			GRPC: Addr{Host: "127.0.0.1", Port: 18081},
			TCP:  Addr{Host: "127.0.0.1", Port: 18082},
		},
		Ports:             Ports{Admin: 19000, HTTP1: 19001, H2: 19002, GRPC: 19003, TCP: 19004},
		Services:          2,
		Dir:               dir,
		NginxStreamModule: "/usr/lib/nginx/modules/ngx_stream_module.so",
	}
}

func TestRenderedConfigurationsMatchTheGoldenFiles(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			got, err := Render(kind, goldenConfig("/run/bench"))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", string(kind)+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendered configuration; run go test ./bench/peers -update and review the diff", path)
			}
		})
	}
}

func TestTheOutriderConfigurationPassesTheProxysOwnValidation(t *testing.T) {
	for _, services := range []int{0, 3} {
		c := goldenConfig("/run/bench")
		c.Services = services
		text, err := Render(Outrider, c)
		if err != nil {
			t.Fatal(err)
		}
		b, err := config.Parse(text, "outrider.yaml")
		if err != nil {
			t.Fatalf("with %d services: %v", services, err)
		}
		if err := server.Validate(b); err != nil {
			t.Fatalf("with %d services: %v", services, err)
		}
		if got, want := len(b.GetStaticResources().GetClusters()), 4+services; got != want {
			t.Errorf("with %d services: %d clusters, want %d", services, got, want)
		}
	}
}

func TestThePeerConfigurationsPassTheirProgramsOwnCheck(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		args func(dir, cfg string) []string
	}{
		{kind: HAProxy, args: func(_, cfg string) []string { return []string{"-c", "-q", "-f", cfg} }},
		{kind: Nginx, args: func(dir, cfg string) []string { return []string{"-t", "-q", "-p", dir, "-c", cfg, "-e", "stderr"} }},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			bin, err := LookPath(string(tc.kind))
			if err != nil {
				t.Skip(err)
			}
			dir := t.TempDir()
			c := goldenConfig(dir)
			if !fileExists(c.NginxStreamModule) {
				c.NginxStreamModule = ""
			}
			text, err := Render(tc.kind, c)
			if err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "proxy.conf")
			if err := os.WriteFile(cfg, text, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, tc.args(dir, cfg)...).CombinedOutput(); err != nil {
				t.Fatalf("%s rejects its configuration: %v\n%s", tc.kind, err, out)
			}
		})
	}
}

func TestAnUnknownProxyIsRefused(t *testing.T) {
	if _, err := Render("envoy", Config{}); err == nil {
		t.Fatal("rendered a configuration for an unknown proxy")
	}
}
