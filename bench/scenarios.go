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

// runScenario sends the scenario's load to each path in turn, round after
// round, and charges each path's proxy with the CPU time and peak memory
// of its own turns only.
func (h *harness) runScenario(s scenario) (report.Scenario, error) {
	n := len(h.paths)
	acc := make([]load.Result, n)
	cpu := make([]time.Duration, n)
	peak := make([]uint64, n)
	send := s.send
	if s.throughput {
		send = func(p path, pace load.Pace) (load.Result, error) {
			return load.RunTCP(load.TCP{Addr: p.tcp, Connections: pace.Connections, Duration: pace.Duration, Received: h.backend.Received})
		}
	}
	for _, p := range h.paths {
		if _, err := send(p, load.Pace{Connections: s.conns, QPS: s.qps, Duration: h.o.warmup}); err != nil {
			return report.Scenario{}, fmt.Errorf("%s warm-up through %s: %w", s.name, p.name, err)
		}
	}
	for round := range h.o.rounds {
		for i, p := range h.paths {
			var cpu0 time.Duration
			if p.proc != nil {
				if err := procstat.ResetPeak(p.proc.PID); err != nil {
					return report.Scenario{}, err
				}
				var err error
				if cpu0, err = procstat.CPU(p.proc.PID); err != nil {
					return report.Scenario{}, err
				}
			}
			res, err := send(p, load.Pace{Connections: s.conns, QPS: s.qps, Duration: h.o.duration})
			if err != nil {
				return report.Scenario{}, fmt.Errorf("%s round %d through %s: %w", s.name, round+1, p.name, err)
			}
			if p.proc != nil {
				cpu1, err := procstat.CPU(p.proc.PID)
				if err != nil {
					return report.Scenario{}, err
				}
				mem, err := procstat.ReadMemory(p.proc.PID)
				if err != nil {
					return report.Scenario{}, err
				}
				cpu[i] += cpu1 - cpu0
				peak[i] = max(peak[i], mem.Peak)
			}
			acc[i].Merge(res)
			fmt.Fprintf(os.Stderr, "bench: %-22s round %d/%d %-9s %s\n", s.name, round+1, h.o.rounds, p.name, summary(s, res))
		}
	}
	out := report.Scenario{Name: s.name, Title: s.title, QPS: s.qps, Connections: s.conns, Seconds: h.o.duration.Seconds(), Throughput: s.throughput}
	for i, p := range h.paths {
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

func summary(s scenario, r load.Result) string {
	if s.throughput {
		return fmt.Sprintf("%.0f MB/s", float64(r.Bytes)/1e6/r.Elapsed.Seconds())
	}
	return fmt.Sprintf("%.0f rps, p50 %v, p99 %v, %d errors", r.RPS(), r.Percentile(50).Round(time.Microsecond), r.Percentile(99).Round(time.Microsecond), r.Errors)
}
