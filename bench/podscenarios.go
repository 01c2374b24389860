package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/outrider-mesh/outrider/bench/pods"
	"github.com/outrider-mesh/outrider/bench/procstat"
	"github.com/outrider-mesh/outrider/bench/report"
	"github.com/outrider-mesh/outrider/localpod"
)

// Path names of the mesh case.
const (
	podsDirect  = "pods-direct"
	sidecarPair = "sidecar-pair"
)

// podScenarioNames are the scenarios also run between pods: the ones a
// per-pod cost is judged by.
var podScenarioNames = map[string]bool{report.HTTP1Fixed: true, report.HTTP1Max: true, "grpc-1000rps": true, "tcp-upload": true}

// podScenarios runs the selected pod scenarios client pod → server pod,
// without sidecars and through both sidecars, and returns them with the
// idle memory of one sidecar.
func (h *harness) podScenarios(selected []scenario) ([]report.Scenario, *report.ProxyMemory, error) {
	var todo []scenario
	for _, s := range selected {
		if podScenarioNames[s.name] {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return nil, nil, nil
	}
	if err := pods.Available(); err != nil {
		h.notes = append(h.notes, fmt.Sprintf("The sidecar pair was not measured: %v.", err))
		return nil, nil, nil
	}
	initBin, err := h.build("outrider-init", "github.com/outrider-mesh/outrider/cmd/outrider-init")
	if err != nil {
		return nil, nil, err
	}
	proxyBin, err := localpod.ShareExecutable(h.proxyBin)
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(filepath.Dir(proxyBin))
	fmt.Fprintln(os.Stderr, "bench: starting the pods")
	m, err := pods.Start(pods.Options{ProxyBin: proxyBin, InitBin: initBin, CPU: h.o.proxyCPU, Nice: h.o.nice, BodySize: h.o.bodySize})
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()

	time.Sleep(h.o.settle)
	client := m.Sidecars.Sidecars[0].Pid()
	mem, err := procstat.ReadMemory(client)
	if err != nil {
		return nil, nil, err
	}
	idle := &report.ProxyMemory{Path: "outrider --sidecar", IdleRSS: mem.RSS, IdleAnon: mem.Anon, IdleFile: mem.File}

	paths := []path{podPath(podsDirect, m.Plain), podPath(sidecarPair, m.Sidecars)}
	var out []report.Scenario
	for _, s := range todo {
		s.name = "pods-" + s.name
		s.title = "Pod to pod: " + s.title
		rs, err := h.runScenario(s, paths, podsDirect)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, rs)
	}
	h.notes = append(h.notes, "Pod to pod: the load runs in a client pod and the backend in a server pod (network namespaces on a bridge); *sidecar-pair* adds outrider-init's rules and `outrider-proxy --sidecar` (GOMAXPROCS=1, access log off, no mTLS yet) in both pods, the two sidecars pinned to the proxy CPU; its CPU is the sum of both sidecars, its peak RSS the larger one. Added latency is counted from *pods-direct*, the same pods without sidecars.")
	return out, idle, nil
}

// podPath is the path from a pair's client pod to its server pod.
func podPath(name string, p *pods.Pair) path {
	pp := path{name: name, http1: p.HTTP, h2: p.HTTP, grpc: p.GRPC, tcp: p.TCP, in: p.Client.Do, received: p.Backend.Received}
	for _, s := range p.Sidecars {
		pp.pids = append(pp.pids, s.Pid())
	}
	return pp
}
