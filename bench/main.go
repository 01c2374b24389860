// Command bench is Outrider's benchmark harness (issue 6): it measures what
// one proxy hop adds to a request (latency, CPU, memory) next to the direct
// path, HAProxy and nginx, in the same run, paths interleaved round by
// round, and writes a markdown table and JSON. docs/benchmarks.md explains
// how to run it and how to read the results.
//
//	go run ./bench --quick                 a few seconds per scenario (CI)
//	go run ./bench                         the full run
//	go run ./bench --profile /tmp/prof     CPU and allocation profiles of Outrider under HTTP/1.1 max rps
//	go run ./bench --profile /tmp/prof --scenarios none --services 10000
//	                                       what an idle proxy with 10,000 services holds
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/outrider-mesh/outrider/bench/report"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command line, after the mode's defaults.
type options struct {
	quick      bool
	rounds     int
	duration   time.Duration
	warmup     time.Duration
	settle     time.Duration
	sizes      []int
	paths      []string
	scenarios  []string
	out        string
	name       string
	proxyBin   string
	baseline   string
	bodySize   int
	pin        bool
	loadCPU    int
	proxyCPU   int
	nice       int
	memory     bool
	pods       bool
	profileDir string
	services   int
}

func parse(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&o.quick, "quick", false, "a few seconds per scenario, one round, configurations up to 1,000 services (CI)")
	fs.IntVar(&o.rounds, "rounds", 0, "rounds per scenario (0: 1 quick, 3 full)")
	fs.DurationVar(&o.duration, "duration", 0, "measured time per path per round (0: 2s quick, 10s full)")
	paths := fs.String("paths", "direct,outrider,haproxy,nginx", "paths to measure, in order")
	scenarios := fs.String("scenarios", "all", "scenarios to run, comma-separated (see --list)")
	list := fs.Bool("list", false, "list the scenarios and exit")
	fs.StringVar(&o.out, "out", "bench/results", "directory for <date>-<machine>.md and .json; empty writes none")
	fs.StringVar(&o.name, "machine", "", "machine name in the result file names (default: the host name)")
	fs.StringVar(&o.proxyBin, "proxy", "", "outrider-proxy binary (default: built from this checkout)")
	fs.StringVar(&o.baseline, "baseline", "", "also measure another outrider-proxy, a binary or a git revision of this checkout, as path "+baselinePath+" (before/after ratios in one run)")
	fs.IntVar(&o.bodySize, "body-size", 1024, "response body size in bytes")
	fs.BoolVar(&o.pin, "pin", true, "pin the proxies to --proxy-cpu and this process (load and backend) to --load-cpu")
	fs.IntVar(&o.loadCPU, "load-cpu", 0, "CPU for the load generator and the backend")
	fs.IntVar(&o.proxyCPU, "proxy-cpu", 1, "CPU for the proxy under test")
	fs.IntVar(&o.nice, "nice", 0, "niceness for the proxies and this process (e.g. -10 on a machine shared with other work; needs root)")
	fs.BoolVar(&o.memory, "memory", true, "measure idle RSS with 10, 1,000 (and 10,000) services")
	pods := fs.String("pods", "auto", "also measure pod to pod with and without sidecars: on, off, or auto (on in the full mode)")
	fs.StringVar(&o.profileDir, "profile", "", "profile Outrider under HTTP/1.1 max rps (or the one --scenarios) into this directory instead of benchmarking")
	fs.IntVar(&o.services, "services", 0, "with --profile: that many extra services in the configuration; with --scenarios none, profile the idle proxy's memory")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *list {
		for _, s := range allScenarios() {
			fmt.Printf("%-22s %s\n", s.name, s.title)
		}
		os.Exit(0)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch *pods {
	case "on", "auto":
		o.pods = *pods == "on" || !o.quick
	case "off":
	default:
		return nil, fmt.Errorf("--pods %q: want on, off or auto", *pods)
	}
	o.paths = strings.Split(*paths, ",")
	if o.baseline != "" && !contains(o.paths, baselinePath) {
		o.paths = insertAfter(o.paths, report.Outrider, baselinePath)
	}
	if *scenarios != "all" {
		o.scenarios = strings.Split(*scenarios, ",")
	}
	if o.quick {
		o.sizes = []int{10, 1000}
		o.settle = time.Second
		o.rounds = or(o.rounds, 1)
		o.duration = orDuration(o.duration, 2*time.Second)
		o.warmup = 300 * time.Millisecond
	} else {
		o.sizes = []int{10, 1000, 10000}
		o.settle = 3 * time.Second
		o.rounds = or(o.rounds, 3)
		o.duration = orDuration(o.duration, 10*time.Second)
		o.warmup = 2 * time.Second
	}
	return o, nil
}

// baselinePath is the path through the --baseline build of outrider-proxy.
const baselinePath = "outrider-base"

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// insertAfter puts s after the first after in list, or at its end.
func insertAfter(list []string, after, s string) []string {
	for i, v := range list {
		if v == after {
			return append(list[:i+1], append([]string{s}, list[i+1:]...)...)
		}
	}
	return append(list, s)
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orDuration(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

func run(args []string, stdout io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	if !o.pin {
		o.proxyCPU = -1
	}
	if err := placeSelf(o, args); err != nil {
		return err
	}
	h, err := newHarness(o)
	if err != nil {
		return err
	}
	defer h.close()
	if o.profileDir != "" {
		return h.profile(stdout)
	}
	r, err := h.benchmark()
	if err != nil {
		return err
	}
	return h.write(r, stdout)
}
