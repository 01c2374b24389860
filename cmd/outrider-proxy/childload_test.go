package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeLargeConfig writes writeConfig's bootstrap with extra clusters
// appended until the file is past childLoadMin, then extra appended
// verbatim under the last cluster; it returns the number of clusters.
func writeLargeConfig(t *testing.T, path string, adminPort int, extra string) int {
	t.Helper()
	writeConfig(t, path, adminPort, freePort(t), "127.0.0.1:9", "large")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	sb.Write(b)
	n := 1
	for sb.Len() < childLoadMin+64<<10 {
		fmt.Fprintf(&sb, `  - name: extra-%d
    connect_timeout: 1s
    load_assignment:
      cluster_name: extra-%d
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.2.%d.%d, port_value: 8080}}}
`, n, n, n/250, n%250+1)
		n++
	}
	sb.WriteString(extra)
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestALargeConfigurationIsParsedInAChildProcessAndServed(t *testing.T) {
	admin := freePort(t)
	path := filepath.Join(t.TempDir(), "large.yaml")
	clusters := writeLargeConfig(t, path, admin, "")
	p := start(t, admin, "-c", path, "--log-level", "debug")
	last := fmt.Sprintf("extra-%d", clusters-1)
	if got := p.stat("cluster." + last + ".membership_total"); got != "1" {
		t.Errorf("cluster %s: membership_total = %q; want 1 (every cluster of the file loaded)", last, got)
	}
	if !strings.Contains(p.out.String(), "configuration parsed in a child process") {
		t.Errorf("the proxy did not say it parsed the file in a child:\n%s", p.out.String())
	}
}

func TestALargeConfigurationIsReloadedThroughTheChildOnSIGHUP(t *testing.T) {
	admin := freePort(t)
	path := filepath.Join(t.TempDir(), "large.yaml")
	clusters := writeLargeConfig(t, path, admin, "")
	p := start(t, admin, "-c", path, "--log-level", "debug")
	added := fmt.Sprintf("extra-%d", clusters)
	grown := fmt.Sprintf(`  - name: %s
    connect_timeout: 1s
    load_assignment:
      cluster_name: %s
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.3.0.1, port_value: 8080}}}
`, added, added)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, grown...), 0o644); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for p.stat("cluster."+added+".membership_total") != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("cluster %s not loaded 20s after SIGHUP", added)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := strings.Count(p.out.String(), "configuration parsed in a child process"); n != 2 {
		t.Errorf("the file was parsed in a child %d times; want 2 (start and reload)", n)
	}
}

func TestALargeInvalidConfigurationIsRefusedWithThePathAndLineTheChildFound(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  string
	}{
		{name: "an unknown field", extra: "    connect_timeoutx: 1s\n", want: "connect_timeoutx: unknown field"},
		{name: "a bad value", extra: "    connect_timeout: soon\n", want: "connect_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "large.yaml")
			writeLargeConfig(t, path, freePort(t), tt.extra)
			cmd := exec.Command(binary, "-c", path)
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatal("the proxy neither started nor refused the file within 30s")
			}
			if err == nil {
				t.Fatalf("an invalid configuration was accepted:\n%s", out)
			}
			text := string(out)
			if !strings.Contains(text, "cannot start") || !strings.Contains(text, "static_resources.clusters[") ||
				!strings.Contains(text, tt.want) || !strings.Contains(text, "(line ") {
				t.Errorf("output does not name the field, its path and line:\n%s", text)
			}
		})
	}
}

func TestTheLoadConfigSubcommandNeedsOneFile(t *testing.T) {
	var out, errb strings.Builder
	if code := runLoadConfig(nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Errorf("no file: exit %d, %q; want 2 and a usage line", code, errb.String())
	}
}
