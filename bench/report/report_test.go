package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixedLatency answers every percentile from a table, for a measurement
// whose latencies are known.
func fixedLatency(p50, p90, p99, p999 time.Duration) func(float64) time.Duration {
	return func(p float64) time.Duration {
		switch p {
		case 50:
			return p50
		case 90:
			return p90
		case 99:
			return p99
		default:
			return p999
		}
	}
}

func sampleReport() *Report {
	us := time.Microsecond
	fixed := Scenario{Name: HTTP1Fixed, Title: "HTTP/1.1 keep-alive, 1000 rps, 16 connections", QPS: 1000, Connections: 16, Seconds: 10}
	for _, m := range []Measurement{
		{Path: Direct, Requests: 10000, Elapsed: 10 * time.Second, Percentile: fixedLatency(100*us, 150*us, 300*us, 900*us)},
		{Path: Outrider, Requests: 10000, Elapsed: 10 * time.Second, Percentile: fixedLatency(160*us, 230*us, 420*us, 1500*us), ProxyCPU: 400 * time.Millisecond, PeakRSS: 14e6},
		{Path: HAProxy, Requests: 10000, Elapsed: 10 * time.Second, Percentile: fixedLatency(140*us, 200*us, 380*us, 1200*us), ProxyCPU: 200 * time.Millisecond, PeakRSS: 9e6},
	} {
		fixed.Runs = append(fixed.Runs, NewRun(m))
	}
	max := Scenario{Name: HTTP1Max, Title: "HTTP/1.1 keep-alive, as fast as it goes, 16 connections", Connections: 16, Seconds: 10}
	for _, m := range []Measurement{
		{Path: Direct, Requests: 300000, Elapsed: 10 * time.Second, Percentile: fixedLatency(400*us, 700*us, 1000*us, 2000*us)},
		{Path: Outrider, Requests: 150000, Elapsed: 10 * time.Second, Percentile: fixedLatency(900*us, 1200*us, 2000*us, 4000*us), ProxyCPU: 6 * time.Second, PeakRSS: 20e6, Errors: 2},
		{Path: HAProxy, Requests: 200000, Elapsed: 10 * time.Second, Percentile: fixedLatency(700*us, 1000*us, 1500*us, 3000*us), ProxyCPU: 4 * time.Second, PeakRSS: 12e6},
	} {
		max.Runs = append(max.Runs, NewRun(m))
	}
	tcp := Scenario{Name: "tcp", Title: "Opaque TCP upload, 4 connections", Connections: 4, Seconds: 5, Throughput: true}
	for _, m := range []Measurement{
		{Path: Direct, Elapsed: 5 * time.Second, Bytes: 10 << 30},
		{Path: Outrider, Elapsed: 5 * time.Second, Bytes: 4 << 30, ProxyCPU: 5 * time.Second, PeakRSS: 15e6},
		{Path: HAProxy, Elapsed: 5 * time.Second, Bytes: 5 << 30, ProxyCPU: 4 * time.Second, PeakRSS: 10e6},
	} {
		tcp.Runs = append(tcp.Runs, NewRun(m))
	}
	r := &Report{
		Date:      "2026-01-02",
		Machine:   Machine{Name: "testbox", CPU: "Test CPU", Cores: 2, Kernel: "6.1", Go: "go1.26", Versions: map[string]string{"haproxy": "2.6.12", "nginx": "1.22.1"}},
		Mode:      "quick",
		Rounds:    2,
		Pinning:   "Proxy on CPU 1; load and backend on CPU 0.",
		Scenarios: []Scenario{fixed, max, tcp},
		Memory: &Memory{Proxies: []ProxyMemory{
			{Path: Outrider, IdleRSS: 12e6, IdleAnon: 5e6, IdleFile: 7e6, IdleGoHeap: 3e6, Scale: []SizePoint{{Services: 10, RSS: 12.5e6, Anon: 5.5e6, GoHeap: 3e6}, {Services: 1000, RSS: 14e6, Anon: 7e6, GoHeap: 4e6}, {Services: 10000, RSS: 35e6, Anon: 28e6, GoHeap: 20e6}}},
			{Path: HAProxy, IdleRSS: 8e6, Scale: []SizePoint{{Services: 10, RSS: 8e6}, {Services: 10000, RSS: 20e6}}},
		}},
		Notes: []string{"A note."},
	}
	for i := range r.Scenarios {
		r.Scenarios[i].Compare()
	}
	for i := range r.Memory.Proxies {
		r.Memory.Proxies[i].Slope()
	}
	r.Judge()
	return r
}

func TestDerivedFiguresComeFromTheRawMeasurements(t *testing.T) {
	r := sampleReport()
	fixed, max, tcp := r.Scenarios[0], r.Scenarios[1], r.Scenarios[2]
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{name: "added p50 is the path's minus the direct path's", got: fixed.Run(Outrider).Added.P50, want: 60},
		{name: "added p99.9 likewise", got: fixed.Run(Outrider).Added.P999, want: 600},
		{name: "CPU per request is CPU time over requests", got: fixed.Run(Outrider).CPUMicrosPerRequest, want: 40},
		{name: "added p50 against HAProxy's", got: fixed.Run(Outrider).VsHAProxy.AddedP50, want: 1.5},
		{name: "CPU per request against HAProxy's", got: fixed.Run(Outrider).VsHAProxy.CPUPerRequest, want: 2},
		{name: "requests per proxy CPU-second", got: max.Run(Outrider).RequestsPerCPUSecond, want: 25000},
		{name: "max rps against HAProxy's", got: max.Run(Outrider).VsHAProxy.RPS, want: 0.75},
		{name: "throughput in MB/s", got: tcp.Run(HAProxy).MBPerSecond, want: float64(5<<30) / 1e6 / 5},
		{name: "CPU seconds per GiB", got: tcp.Run(Outrider).CPUSecondsPerGiB, want: 1.25},
		{name: "memory growth per service", got: r.Memory.Proxy(Outrider).BytesPerService, want: (35e6 - 12.5e6) / 9990},
		{name: "private memory growth per service", got: r.Memory.Proxy(Outrider).AnonBytesPerService, want: (28e6 - 5.5e6) / 9990},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := tc.got - tc.want; diff > 1e-9 || diff < -1e-9 {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	if fixed.Run(Direct).Added != nil || fixed.Run(Direct).VsHAProxy != nil {
		t.Error("the direct path was compared with itself")
	}
	if max.Run(Outrider).VsHAProxy.RPS == 0 || fixed.Run(Outrider).VsHAProxy.RPS != 0 {
		t.Error("rps ratio must be given for max-rate scenarios only")
	}
}

func TestTargetsAreJudgedOnlyWhenMeasured(t *testing.T) {
	r := sampleReport()
	want := map[string]string{
		"added latency p50 and p99 at 1000 rps ≤ HAProxy's": "no",
		"max rps per core ≥ 80% of HAProxy's":               "no",
		"≤ 0.05 vCPU per 1000 rps (HTTP/1.1)":               "yes",
		"idle RSS ≤ 20 MB":                                  "yes",
		"RSS ≤ 30 MB at 1000 rps":                           "yes",
		"≤ 2 KB per added cluster+route":                    "no",
	}
	if len(r.Targets) != len(want) {
		t.Fatalf("%d targets, want %d", len(r.Targets), len(want))
	}
	for _, tg := range r.Targets {
		got := "unmeasured"
		if tg.Met != nil {
			got = map[bool]string{true: "yes", false: "no"}[*tg.Met]
		}
		if got != want[tg.Goal] {
			t.Errorf("%q: met=%s, want %s (%s)", tg.Goal, got, want[tg.Goal], tg.Measured)
		}
	}
	empty := &Report{}
	empty.Judge()
	for _, tg := range empty.Targets {
		if tg.Met != nil || tg.Measured != "not measured" {
			t.Errorf("%q judged without figures: %+v", tg.Goal, tg)
		}
	}
}

func TestOutputsMatchTheGoldenFiles(t *testing.T) {
	r := sampleReport()
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		file string
		got  []byte
	}{
		{name: "markdown", file: "sample.md", got: r.Markdown()},
		{name: "JSON", file: "sample.json", got: js},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, tc.got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(tc.got, want) {
				t.Errorf("%s is stale; run go test ./bench/report -update and review the diff", path)
			}
		})
	}
}
