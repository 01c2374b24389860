package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/bench/report"
)

func TestModesSetTheirDefaultsAndFlagsOverrideThem(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		rounds   int
		duration time.Duration
		sizes    int
	}{
		{name: "the full mode", args: nil, rounds: 3, duration: 10 * time.Second, sizes: 3},
		{name: "the quick mode", args: []string{"--quick"}, rounds: 1, duration: 2 * time.Second, sizes: 2},
		{name: "quick with more rounds", args: []string{"--quick", "--rounds", "4", "--duration", "1s"}, rounds: 4, duration: time.Second, sizes: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if o.rounds != tc.rounds || o.duration != tc.duration || len(o.sizes) != tc.sizes {
				t.Errorf("rounds %d, duration %v, %d sizes; want %d, %v, %d", o.rounds, o.duration, len(o.sizes), tc.rounds, tc.duration, tc.sizes)
			}
		})
	}
	if _, err := parse([]string{"stray"}); err == nil {
		t.Error("a stray argument was accepted")
	}
}

func TestScenariosAreChosenByNameInTheirOwnOrder(t *testing.T) {
	got, err := selectScenarios([]string{"tcp-upload", report.HTTP1Fixed})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].name != "tcp-upload" || got[1].name != report.HTTP1Fixed {
		t.Errorf("got %v", got)
	}
	if _, err := selectScenarios([]string{"nope"}); err == nil {
		t.Error("an unknown scenario was accepted")
	}
	if none, err := selectScenarios([]string{"none"}); err != nil || len(none) != 0 {
		t.Errorf("none: %v, %v; want no scenario (memory only)", none, err)
	}
	all, _ := selectScenarios(nil)
	seen := map[string]bool{}
	for _, s := range all {
		if seen[s.name] || s.title == "" || s.conns == 0 || (s.send == nil && !s.throughput) {
			t.Errorf("scenario %q is malformed or repeated", s.name)
		}
		seen[s.name] = true
	}
}

func TestMachineNamesAreSafeInFileNames(t *testing.T) {
	if got := sanitize("ci/box 1.local"); got != "ci-box-1-local" {
		t.Errorf("got %q", got)
	}
}

// A whole run, short: real backend, real proxies, the files it writes.
func TestAQuickRunWritesTheTablesAndTheJSON(t *testing.T) {
	out := t.TempDir()
	var stdout bytes.Buffer
	err := run([]string{
		"--quick", "--pin=false", "--rounds", "2", "--duration", "300ms",
		"--scenarios", report.HTTP1Fixed + ",grpc-max,tcp-upload",
		"--paths", "direct,outrider,haproxy",
		"--out", out, "--machine", "test box",
	}, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*-test-box-quick.*"))
	if len(files) != 2 {
		t.Fatalf("wrote %v, want one .md and one .json", files)
	}
	var r report.Report
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") {
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
		} else if !bytes.Equal(b, stdout.Bytes()) {
			t.Error("the markdown file differs from what was printed")
		}
	}
	if len(r.Scenarios) != 3 {
		t.Fatalf("%d scenarios in the JSON, want 3", len(r.Scenarios))
	}
	for _, s := range r.Scenarios {
		for _, run := range s.Runs {
			if run.Errors != 0 || (run.Requests == 0 && run.Bytes == 0) {
				t.Errorf("%s through %s: %d requests, %d bytes, %d errors", s.Name, run.Path, run.Requests, run.Bytes, run.Errors)
			}
			if run.Path == report.Outrider && (run.ProxyCPUSeconds <= 0 || run.PeakRSS == 0) {
				t.Errorf("%s: Outrider was charged %v s of CPU and %d bytes of RSS", s.Name, run.ProxyCPUSeconds, run.PeakRSS)
			}
		}
	}
	fixed := r.Scenarios[0]
	if o := fixed.Run(report.Outrider); o == nil || o.Added == nil || o.Latency == nil {
		t.Fatalf("no added latency for Outrider: %+v", o)
	}
	mem := r.Memory.Proxy(report.Outrider)
	if mem == nil || mem.IdleRSS == 0 || len(mem.Scale) != 2 || mem.Scale[1].RSS == 0 {
		t.Errorf("memory figures missing: %+v", mem)
	}
	if len(r.Targets) != 6 {
		t.Errorf("%d targets judged, want 6", len(r.Targets))
	}
}

func TestABaselineIsMeasuredRightAfterOutrider(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "no baseline", args: nil, want: "direct,outrider,haproxy,nginx"},
		{name: "after outrider", args: []string{"--baseline", "HEAD~1"}, want: "direct,outrider,outrider-base,haproxy,nginx"},
		{name: "at the end without outrider", args: []string{"--baseline", "HEAD~1", "--paths", "direct,haproxy"}, want: "direct,haproxy,outrider-base"},
		{name: "where the paths put it", args: []string{"--baseline", "HEAD~1", "--paths", "outrider-base,direct,outrider"}, want: "outrider-base,direct,outrider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(o.paths, ","); got != tc.want {
				t.Errorf("paths %s; want %s", got, tc.want)
			}
		})
	}
}
