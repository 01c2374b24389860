package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/outrider-mesh/outrider/bench/backend"
	"github.com/outrider-mesh/outrider/bench/peers"
	"github.com/outrider-mesh/outrider/bench/procstat"
	"github.com/outrider-mesh/outrider/bench/report"
)

// path is one way from the load generator to the backend.
type path struct {
	name string
	// proc is the proxy on the path; nil for the direct path and pods.
	proc *peers.Process
	// bin is proc's executable.
	bin string
	// pids are the proxies the path's CPU time and memory are charged
	// to: proc's, or both sidecars'; none for a direct path.
	pids []int
	// Where each protocol's load is sent (host:port).
	http1, h2, grpc, tcp string
	// in makes the load's connections elsewhere (a pod); nil means here.
	in func(func() error) error
	// received counts the bytes the path's TCP sink got.
	received func() int64
}

// harness owns everything a run starts: a scratch directory, the backend
// and the proxies. close stops them all.
type harness struct {
	o        *options
	tmp      string
	backend  *backend.Backend
	up       peers.Upstreams
	proxyBin string
	baseBin  string
	versions map[string]string
	paths    []path
	procs    []*peers.Process
	notes    []string
}

func newHarness(o *options) (*harness, error) {
	h := &harness{o: o, versions: map[string]string{}}
	var err error
	if h.tmp, err = os.MkdirTemp("", "outrider-bench-"); err != nil {
		return nil, err
	}
	if o.proxyBin == "" {
		h.proxyBin, err = h.build("outrider-proxy", "github.com/outrider-mesh/outrider/cmd/outrider-proxy")
	} else {
		// Absolute: the proxies run in directories of their own.
		h.proxyBin, err = filepath.Abs(o.proxyBin)
	}
	if err != nil {
		h.close()
		return nil, err
	}
	h.versions["outrider"] = version(h.proxyBin, "--version")
	if rev, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		h.versions["outrider"] += " (checkout " + strings.TrimSpace(string(rev)) + ")"
	}
	if o.baseline != "" {
		if h.baseBin, err = h.buildBaseline(o.baseline); err != nil {
			h.close()
			return nil, err
		}
		h.versions[baselinePath] = version(h.baseBin, "--version") + " (" + o.baseline + ")"
	}
	if h.backend, err = backend.Start(backend.Options{BodySize: o.bodySize}); err != nil {
		h.close()
		return nil, err
	}
	for _, a := range []struct {
		to   *peers.Addr
		from net.Addr
	}{{&h.up.HTTP, h.backend.HTTP}, {&h.up.GRPC, h.backend.GRPC}, {&h.up.TCP, h.backend.TCP}} {
		if *a.to, err = peers.ParseAddr(a.from.String()); err != nil {
			h.close()
			return nil, err
		}
	}
	return h, nil
}

// build compiles a command of this module into the scratch directory.
func (h *harness) build(name, pkg string) (string, error) {
	bin := filepath.Join(h.tmp, name)
	fmt.Fprintf(os.Stderr, "bench: building %s\n", pkg)
	return bin, goBuild("", bin, pkg)
}

// buildBaseline returns the --baseline binary: the file it names, or
// outrider-proxy built from that git revision in a scratch worktree.
func (h *harness) buildBaseline(rev string) (string, error) {
	if st, err := os.Stat(rev); err == nil && !st.IsDir() {
		return filepath.Abs(rev)
	}
	dir := filepath.Join(h.tmp, "baseline-src")
	if out, err := exec.Command("git", "worktree", "add", "--detach", dir, rev).CombinedOutput(); err != nil {
		return "", fmt.Errorf("--baseline %s: not a file, and git worktree add: %w\n%s", rev, err, out)
	}
	defer exec.Command("git", "worktree", "remove", "--force", dir).Run()
	bin := filepath.Join(h.tmp, "outrider-proxy-base")
	fmt.Fprintf(os.Stderr, "bench: building outrider-proxy at %s\n", rev)
	if err := goBuild(dir, bin, "./cmd/outrider-proxy"); err != nil {
		return "", fmt.Errorf("--baseline %s: %w", rev, err)
	}
	return bin, nil
}

// goBuild builds pkg into bin, in dir (empty: here), static as make build
// builds.
func goBuild(dir, bin, pkg string) error {
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", pkg, err, out)
	}
	return nil
}

func (h *harness) close() {
	for _, p := range h.procs {
		p.Stop()
	}
	if h.backend != nil {
		h.backend.Close()
	}
	if h.tmp != "" {
		os.RemoveAll(h.tmp)
	}
}

// start runs one proxy of kind with services extra services, pinned to
// the proxy CPU, with a binary of the harness's choosing.
func (h *harness) start(kind peers.Kind, services int, bin string, env ...string) (*peers.Process, error) {
	dir := filepath.Join(h.tmp, fmt.Sprintf("%s-%d-%d", kind, services, len(h.procs)))
	p, err := peers.Start(peers.Options{
		Kind:         kind,
		Binary:       bin,
		CPU:          h.o.proxyCPU,
		Nice:         h.o.nice,
		Env:          env,
		Config:       peers.Config{Upstreams: h.up, Services: services, Dir: dir},
		ReadyTimeout: 2 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	h.procs = append(h.procs, p)
	return p, nil
}

func (h *harness) stop(p *peers.Process) {
	p.Stop()
	for i, q := range h.procs {
		if q == p {
			h.procs = append(h.procs[:i], h.procs[i+1:]...)
			break
		}
	}
}

// binaryFor returns the executable of a proxy kind, or "" with a note when
// it is not installed.
func (h *harness) binaryFor(kind peers.Kind) string {
	if kind == peers.Outrider {
		return h.proxyBin
	}
	bin, err := peers.LookPath(string(kind))
	if err != nil {
		h.notes = append(h.notes, fmt.Sprintf("%s is not installed: left out (run scripts/bench-deps.sh as root).", kind))
		return ""
	}
	switch kind {
	case peers.HAProxy:
		h.versions["haproxy"] = version(bin, "-v")
	case peers.Nginx:
		h.versions["nginx"] = version(bin, "-v")
	}
	return bin
}

// startPaths starts one proxy per requested path and lists the paths.
func (h *harness) startPaths() error {
	for _, name := range h.o.paths {
		if name == report.Direct {
			h.paths = append(h.paths, path{name: name, http1: h.up.HTTP.String(), h2: h.up.HTTP.String(), grpc: h.up.GRPC.String(), tcp: h.up.TCP.String(), received: h.backend.Received})
			continue
		}
		kind, bin := peers.Kind(name), ""
		switch {
		case name == baselinePath && h.baseBin != "":
			kind, bin = peers.Outrider, h.baseBin
		case knownKind(kind):
			bin = h.binaryFor(kind)
		default:
			return fmt.Errorf("unknown path %q (direct, outrider, haproxy, nginx; %s with --baseline)", name, baselinePath)
		}
		if bin == "" {
			continue
		}
		p, err := h.start(kind, 0, bin)
		if err != nil {
			return err
		}
		pa := h.proxyPath(p)
		pa.name, pa.bin = name, bin
		h.paths = append(h.paths, pa)
	}
	return nil
}

// proxyPath is the path through a peer.
func (h *harness) proxyPath(p *peers.Process) path {
	at := func(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
	return path{name: string(p.Kind), proc: p, pids: []int{p.PID}, http1: at(p.Ports.HTTP1), h2: at(p.Ports.H2), grpc: at(p.Ports.GRPC), tcp: at(p.Ports.TCP), received: h.backend.Received}
}

func knownKind(k peers.Kind) bool {
	for _, known := range peers.Kinds {
		if k == known {
			return true
		}
	}
	return false
}

// benchmark runs every selected scenario, then the memory measurements.
func (h *harness) benchmark() (*report.Report, error) {
	scenarios, err := selectScenarios(h.o.scenarios)
	if err != nil {
		return nil, err
	}
	if err := h.startPaths(); err != nil {
		return nil, err
	}
	r := &report.Report{
		Date:   time.Now().UTC().Format("2006-01-02"),
		Mode:   map[bool]string{true: "quick", false: "full"}[h.o.quick],
		Rounds: h.o.rounds,
	}
	if h.o.proxyCPU >= 0 {
		r.Pinning = fmt.Sprintf("Each proxy is pinned to CPU %d (taskset) with one core's worth of workers: Outrider GOMAXPROCS=1, HAProxy nbthread 1, nginx one worker and no master; the load generator (fortio's periodic runner) and the backend share CPU %d.", h.o.proxyCPU, h.o.loadCPU)
	} else {
		r.Pinning = "Nothing is pinned (--pin=false): figures are less stable."
	}
	if h.o.nice != 0 {
		r.Pinning += fmt.Sprintf(" Proxies and harness run at niceness %d.", h.o.nice)
	}
	time.Sleep(h.o.settle)
	idle := map[string]report.ProxyMemory{}
	for _, p := range h.paths {
		if p.proc != nil {
			m, err := procstat.ReadMemory(p.proc.PID)
			if err != nil {
				return nil, err
			}
			idle[p.name] = report.ProxyMemory{Path: p.name, IdleRSS: m.RSS, IdleAnon: m.Anon, IdleFile: m.File, IdleGoHeap: goHeap(p.proc)}
		}
	}
	for _, s := range scenarios {
		rs, err := h.runScenario(s, h.paths, report.Direct)
		if err != nil {
			return nil, err
		}
		r.Scenarios = append(r.Scenarios, rs)
	}
	for _, p := range h.paths {
		if p.proc != nil {
			h.stop(p.proc)
		}
	}
	var sidecar *report.ProxyMemory
	if h.o.pods {
		var pods []report.Scenario
		if pods, sidecar, err = h.podScenarios(scenarios); err != nil {
			return nil, err
		}
		r.Scenarios = append(r.Scenarios, pods...)
	}
	if h.o.memory {
		if r.Memory, err = h.memory(idle); err != nil {
			return nil, err
		}
		if sidecar != nil {
			r.Memory.Proxies = append(r.Memory.Proxies, *sidecar)
		}
	}
	r.Machine = machine(h.o.name, h.versions)
	r.Notes = append(r.Notes, h.notes...)
	r.Judge()
	return r, nil
}

// memory measures each proxy's settled RSS with growing configurations.
func (h *harness) memory(idle map[string]report.ProxyMemory) (*report.Memory, error) {
	m := &report.Memory{}
	for _, p := range h.paths {
		if p.proc == nil {
			continue
		}
		pm := idle[p.name]
		pm.Path = p.name
		for _, n := range h.o.sizes {
			proc, err := h.start(p.proc.Kind, n, p.bin)
			if err != nil {
				return nil, fmt.Errorf("memory with %d services: %w", n, err)
			}
			time.Sleep(h.o.settle)
			mem, err := procstat.ReadMemory(proc.PID)
			heap := goHeap(proc)
			h.stop(proc)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "bench: memory %-9s %6d services: RSS %.1f MB (anon %.1f)\n", p.name, n, float64(mem.RSS)/1e6, float64(mem.Anon)/1e6)
			pm.Scale = append(pm.Scale, report.SizePoint{Services: n, RSS: mem.RSS, Anon: mem.Anon, GoHeap: heap})
		}
		pm.Slope()
		m.Proxies = append(m.Proxies, pm)
	}
	return m, nil
}

// goHeap is Outrider's Go heap in use, or zero for the other proxies or
// when the admin API does not answer (the figure is informative only).
func goHeap(p *peers.Process) uint64 {
	if p.Kind != peers.Outrider {
		return 0
	}
	n, err := p.GoHeap()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	return n
}

// write prints the markdown and saves both outputs under --out.
func (h *harness) write(r *report.Report, stdout io.Writer) error {
	md := r.Markdown()
	if _, err := stdout.Write(md); err != nil {
		return err
	}
	if h.o.out == "" {
		return nil
	}
	js, err := r.JSON()
	if err != nil {
		return err
	}
	base := r.Date + "-" + sanitize(r.Machine.Name)
	if h.o.quick {
		base += "-quick"
	}
	if err := os.MkdirAll(h.o.out, 0o755); err != nil {
		return err
	}
	for ext, b := range map[string][]byte{".md": md, ".json": js} {
		if err := os.WriteFile(filepath.Join(h.o.out, base+ext), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s.{md,json}\n", filepath.Join(h.o.out, base))
	return nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, s)
}
