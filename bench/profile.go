package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/outrider-mesh/outrider/bench/load"
	"github.com/outrider-mesh/outrider/bench/peers"
)

// profile runs Outrider built with profiling (bench/profiled) under the
// HTTP/1.1 max-rps load, pinned as in a benchmark, and leaves cpu.pprof,
// allocs.pprof and their top entries (cpu-top.txt, allocs-top.txt) in
// the profile directory.
func (h *harness) profile(stdout io.Writer) error {
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
	p, err := h.start(peers.Outrider, 0, bin, "OUTRIDER_PROFILE_DIR="+dir)
	if err != nil {
		return err
	}
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Ports.HTTP1)) + "/"
	res, err := load.RunHTTP(load.HTTP{URL: url, Pace: load.Pace{Connections: 16, Duration: h.o.warmup + h.o.duration}})
	if err != nil {
		return err
	}
	h.stop(p)
	fmt.Fprintf(stdout, "profiled %d requests (%.0f rps, %d errors) into %s\n", res.Requests, res.RPS(), res.Errors, dir)
	for _, top := range []struct {
		file, out string
		args      []string
	}{
		{file: "cpu.pprof", out: "cpu-top.txt", args: []string{"-top", "-nodecount=40"}},
		{file: "cpu.pprof", out: "cpu-cum.txt", args: []string{"-top", "-cum", "-nodecount=40"}},
		{file: "allocs.pprof", out: "allocs-top.txt", args: []string{"-top", "-nodecount=40", "-sample_index=alloc_space"}},
		{file: "allocs.pprof", out: "allocs-objects.txt", args: []string{"-top", "-nodecount=40", "-sample_index=alloc_objects"}},
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
