package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/outrider-mesh/outrider/bench/load"
	"github.com/outrider-mesh/outrider/bench/peers"
	"github.com/outrider-mesh/outrider/bench/report"
)

// profile runs Outrider built with profiling (bench/profiled) under one
// scenario's load (HTTP/1.1 max rps unless --scenarios names another),
// pinned as in a benchmark, and leaves cpu.pprof, allocs.pprof and their
// top entries (cpu-top.txt, allocs-top.txt, …) in the profile directory.
func (h *harness) profile(stdout io.Writer) error {
	names := h.o.scenarios
	if names == nil {
		names = []string{report.HTTP1Max}
	}
	if len(names) != 1 {
		return fmt.Errorf("--profile takes one scenario, not %d", len(names))
	}
	idle := names[0] == "none"
	var s scenario
	if !idle {
		scenarios, err := selectScenarios(names)
		if err != nil {
			return err
		}
		s = scenarios[0]
	}
	dir, err := filepath.Abs(h.o.profileDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin, err := h.build("profiled", "github.com/outrider-mesh/outrider/bench/profiled")
	if err != nil {
		return err
	}
	p, err := h.start(peers.Outrider, h.o.services, bin, "OUTRIDER_PROFILE_DIR="+dir)
	if err != nil {
		return err
	}
	if idle {
		time.Sleep(h.o.settle)
		h.stop(p)
		fmt.Fprintf(stdout, "profiled the idle proxy with %d extra services into %s\n", h.o.services, dir)
	} else {
		res, err := h.sender(s)(h.proxyPath(p), load.Pace{Connections: s.conns, QPS: s.qps, Duration: h.o.warmup + h.o.duration})
		if err != nil {
			return err
		}
		h.stop(p)
		fmt.Fprintf(stdout, "profiled %s: %s, into %s\n", s.name, summary(s, res), dir)
	}
	for _, top := range []struct {
		file, out string
		args      []string
	}{
		{file: "cpu.pprof", out: "cpu-top.txt", args: []string{"-top", "-nodecount=40"}},
		{file: "cpu.pprof", out: "cpu-cum.txt", args: []string{"-top", "-cum", "-nodecount=40"}},
		{file: "allocs.pprof", out: "allocs-top.txt", args: []string{"-top", "-nodecount=40", "-sample_index=alloc_space"}},
		{file: "allocs.pprof", out: "allocs-objects.txt", args: []string{"-top", "-nodecount=40", "-sample_index=alloc_objects"}},
		{file: "allocs.pprof", out: "inuse-top.txt", args: []string{"-top", "-nodecount=40", "-sample_index=inuse_space"}},
	} {
		args := append([]string{"tool", "pprof"}, top.args...)
		args = append(args, bin, filepath.Join(dir, top.file))
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof %s: %w\n%s", top.file, err, out)
		}
		if err := os.WriteFile(filepath.Join(dir, top.out), out, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\n== %s (%s)\n%s", top.out, top.file, out)
	}
	return nil
}
