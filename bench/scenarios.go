package main

import (
	"fmt"
	"os"
	"time"

	"github.com/outrider-mesh/outrider/bench/load"
	"github.com/outrider-mesh/outrider/bench/procstat"
	"github.com/outrider-mesh/outrider/bench/report"
)

// scenario is one kind of load, sent to every path in turn.
type scenario struct {
	name       string
	title      string
	qps        float64
	conns      int
	throughput bool
	send       func(p path, pace load.Pace) (load.Result, error)
}

func allScenarios() []scenario {
	http1 := func(newConn bool) func(path, load.Pace) (load.Result, error) {
		return func(p path, pace load.Pace) (load.Result, error) {
			return load.RunHTTP(load.HTTP{URL: "http://" + p.http1 + "/", NewConnection: newConn, Pace: pace})
		}
	}
	h2 := func(p path, pace load.Pace) (load.Result, error) {
		return load.RunHTTP(load.HTTP{URL: "http://" + p.h2 + "/", H2: true, Pace: pace})
	}
	grpc := func(p path, pace load.Pace) (load.Result, error) {
		return load.RunGRPC(load.GRPC{Addr: p.grpc, Pace: pace})
	}
	return []scenario{
		{name: report.HTTP1Fixed, title: "HTTP/1.1 keep-alive, 1000 rps, 16 connections", qps: 1000, conns: 16, send: http1(false)},
		{name: report.HTTP1Max, title: "HTTP/1.1 keep-alive, as fast as it goes, 16 connections", conns: 16, send: http1(false)},
		{name: "h2-1000rps", title: "HTTP/2 (h2c), 1000 rps, 16 connections", qps: 1000, conns: 16, send: h2},
		{name: "h2-max", title: "HTTP/2 (h2c), as fast as it goes, 16 connections", conns: 16, send: h2},
		{name: "grpc-1000rps", title: "gRPC unary, 1000 rps, 16 connections", qps: 1000, conns: 16, send: grpc},
		{name: "grpc-max", title: "gRPC unary, as fast as it goes, 16 connections", conns: 16, send: grpc},
		{name: "http1-newconn-500rps", title: "HTTP/1.1, a new connection per request, 500 rps, 8 clients", qps: 500, conns: 8, send: http1(true)},
		{name: "tcp-upload", title: "Opaque TCP upload, 4 connections, as fast as it goes", conns: 4, throughput: true},
	}
}

// selectScenarios keeps the named scenarios, in the canonical order.
func selectScenarios(names []string) ([]scenario, error) {
	all := allScenarios()
	if names == nil {
		return all, nil
	}
	if len(names) == 1 && names[0] == "none" {
		return nil, nil // memory only
	}
	var out []scenario
	for _, n := range names {
		found := false
		for _, s := range all {
			if s.name == n {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q (see --list)", n)
		}
	}
	return out, nil
}

// sender returns the function that sends s's load to a path; throughput
// scenarios count the bytes at the harness's backend.
func (h *harness) sender(s scenario) func(path, load.Pace) (load.Result, error) {
	if !s.throughput {
		return s.send
	}
	return func(p path, pace load.Pace) (load.Result, error) {
		return load.RunTCP(load.TCP{Addr: p.tcp, Connections: pace.Connections, Duration: pace.Duration, Received: p.received, In: p.in})
	}
}

// runScenario sends the scenario's load to each path in turn, round after
// round, and charges each path's proxies with the CPU time and peak memory
// of its own turns only. Added latency is counted from the baseline path.
func (h *harness) runScenario(s scenario, paths []path, baseline string) (report.Scenario, error) {
	n := len(paths)
	acc := make([]load.Result, n)
	cpu := make([]time.Duration, n)
	peak := make([]uint64, n)
	send := h.sender(s)
	for _, p := range paths {
		if _, err := send(p, load.Pace{Connections: s.conns, QPS: s.qps, Duration: h.o.warmup, In: p.in}); err != nil {
			return report.Scenario{}, fmt.Errorf("%s warm-up through %s: %w", s.name, p.name, err)
		}
	}
	for round := range h.o.rounds {
		for i, p := range paths {
			cpu0, err := resetAndReadCPU(p.pids)
			if err != nil {
				return report.Scenario{}, err
			}
			res, err := send(p, load.Pace{Connections: s.conns, QPS: s.qps, Duration: h.o.duration, In: p.in})
			if err != nil {
				return report.Scenario{}, fmt.Errorf("%s round %d through %s: %w", s.name, round+1, p.name, err)
			}
			cpu1, top, err := readCPUAndPeak(p.pids)
			if err != nil {
				return report.Scenario{}, err
			}
			cpu[i] += cpu1 - cpu0
			peak[i] = max(peak[i], top)
			acc[i].Merge(res)
			fmt.Fprintf(os.Stderr, "bench: %-22s round %d/%d %-12s %s\n", s.name, round+1, h.o.rounds, p.name, summary(s, res))
		}
	}
	out := report.Scenario{Name: s.name, Title: s.title, QPS: s.qps, Connections: s.conns, Seconds: h.o.duration.Seconds(), Throughput: s.throughput, Baseline: baseline}
	for i, p := range paths {
		m := report.Measurement{
			Path: p.name, Requests: acc[i].Requests, Errors: acc[i].Errors, Elapsed: acc[i].Elapsed,
			ProxyCPU: cpu[i], PeakRSS: peak[i], Bytes: acc[i].Bytes,
		}
		if !s.throughput {
			m.Percentile = acc[i].Percentile
		}
		out.Runs = append(out.Runs, report.NewRun(m))
	}
	out.Compare()
	return out, nil
}

// resetAndReadCPU starts a turn: every proxy's peak RSS is reset and the
// sum of their CPU times returned.
func resetAndReadCPU(pids []int) (time.Duration, error) {
	var sum time.Duration
	for _, pid := range pids {
		if err := procstat.ResetPeak(pid); err != nil {
			return 0, err
		}
		t, err := procstat.CPU(pid)
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// readCPUAndPeak ends a turn: the sum of the proxies' CPU times and the
// highest of their peak RSS.
func readCPUAndPeak(pids []int) (time.Duration, uint64, error) {
	var sum time.Duration
	var top uint64
	for _, pid := range pids {
		t, err := procstat.CPU(pid)
		if err != nil {
			return 0, 0, err
		}
		m, err := procstat.ReadMemory(pid)
		if err != nil {
			return 0, 0, err
		}
		sum += t
		top = max(top, m.Peak)
	}
	return sum, top, nil
}

func summary(s scenario, r load.Result) string {
	if s.throughput {
		return fmt.Sprintf("%.0f MB/s", float64(r.Bytes)/1e6/r.Elapsed.Seconds())
	}
	return fmt.Sprintf("%.0f rps, p50 %v, p99 %v, %d errors", r.RPS(), r.Percentile(50).Round(time.Microsecond), r.Percentile(99).Round(time.Microsecond), r.Errors)
}
