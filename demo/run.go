// Package demo runs `outrider demo`: two pods on this machine, each a
// network namespace with outrider-init's redirect rules and an
// outrider-proxy sidecar, a sample server in one and a client sending it
// load in the other, watched live until the time is up or the user stops
// it, and then removed without a trace.
//
// Run does the work and returns a Report; Frame, Line and Live render
// reports for people; the report marshals to JSON for programs.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/outrider-mesh/outrider/demo/sampleapp"
	"github.com/outrider-mesh/outrider/localpod"
)

// Prefix starts the names of the demo's network namespaces
// ("outrider-demo-<pid>-<n>-client"), so that a demo's leftovers are found
// and never mistaken for a test's.
const Prefix = "outrider-demo"

var sigterm = syscall.SIGTERM

// Options configure a demo. The zero value runs every protocol at 10
// requests per second, without failures, until the context is done.
type Options struct {
	// Duration is how long the load runs; zero means until ctx is done.
	Duration time.Duration
	// Rate is the requests per second per protocol; zero means 10.
	Rate float64
	// FailureRate is the share of HTTP and gRPC requests the server fails
	// on purpose (503, UNAVAILABLE), from 0 to 1.
	FailureRate float64
	// Protocols are the protocols to send load over; empty means all.
	Protocols []sampleapp.Protocol
	// Binaries are the programs to run; zero means FindBinaries(BinDir).
	Binaries Binaries
	BinDir   string
	// Interval is how often Progress is called; zero means 1 s.
	Interval time.Duration
	// Progress is called with a report every interval while the load
	// runs; nil means nobody watches.
	Progress func(Report)
	// Log receives a line per setup step; nil discards them.
	Log io.Writer
	// Available reports whether pods can be made here; nil means
	// localpod.Available.
	Available func() error
}

// ErrNeedsRoot is returned (wrapped) by Run when this process cannot create
// network namespaces.
var ErrNeedsRoot = errors.New("demo: needs root")

// stopTimeout bounds the orderly stop of each application: the client
// finishes its requests in flight (each within the client's 5 s timeout).
const stopTimeout = 10 * time.Second

// Run runs the demo. However it ends (the duration is up, ctx is done, or
// something failed) it removes the namespaces and processes it made before
// it returns, and the report's Cleanup says so. The report is complete
// unless the error is from the setup.
func Run(ctx context.Context, o Options) (Report, error) {
	if err := o.check(); err != nil {
		return Report{}, err
	}
	if err := o.Available(); err != nil {
		return Report{}, fmt.Errorf("%w to create its pods as network namespaces (%v); run it as root, e.g. with sudo", ErrNeedsRoot, err)
	}
	if o.Binaries == (Binaries{}) {
		var err error
		if o.Binaries, err = FindBinaries(o.BinDir); err != nil {
			return Report{}, err
		}
	}
	bins, removeCopies, err := o.Binaries.shared()
	if err != nil {
		return Report{}, err
	}
	defer removeCopies()
	if swept, err := localpod.Sweep(Prefix); err != nil {
		fmt.Fprintf(o.Log, "demo: removing an earlier demo's namespaces: %v\n", err)
	} else if len(swept) > 0 {
		fmt.Fprintf(o.Log, "demo: removed %d namespaces an earlier demo left behind\n", len(swept))
	}
	d := &run{opts: o, bins: bins}
	var rep Report
	err = d.start(ctx)
	if err != nil && ctx.Err() != nil {
		err = errors.New("demo: interrupted before the load started")
	}
	if err == nil {
		rep, err = d.watch(ctx)
	}
	cleanup, cerr := d.close()
	rep.Cleanup = &cleanup
	return rep, errors.Join(err, cerr)
}

func (o *Options) check() error {
	if o.Rate == 0 {
		o.Rate = 10
	}
	if !(o.Rate > 0 && o.Rate <= sampleapp.MaxRate) {
		return fmt.Errorf("demo: rate %v: want more than 0 and at most %d requests per second per protocol", o.Rate, sampleapp.MaxRate)
	}
	if !(o.FailureRate >= 0 && o.FailureRate <= 1) {
		return fmt.Errorf("demo: failure rate %v: want 0 to 1", o.FailureRate)
	}
	if o.Duration < 0 {
		return fmt.Errorf("demo: duration %v: want 0 (until interrupted) or more", o.Duration)
	}
	if len(o.Protocols) == 0 {
		o.Protocols = sampleapp.Protocols
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Progress == nil {
		o.Progress = func(Report) {}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Available == nil {
		o.Available = localpod.Available
	}
	return nil
}

// run is one demo's state.
type run struct {
	opts  Options
	bins  Binaries
	setup Setup

	node      *localpod.Node
	clientPod *localpod.Pod
	serverPod *localpod.Pod
	sidecars  []*sidecar // client's, server's
	server    *app[sampleapp.ServerReport]
	client    *app[sampleapp.ClientReport]
	targets   map[sampleapp.Protocol]string
	pids      []int    // every process started, for the cleanup check
	netns     []string // every namespace made, for the cleanup check
}

// start builds the pods and starts everything in the order a pod starts:
// rules, sidecar, and once the sidecar is ready, the application.
func (d *run) start(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.makePods(); err != nil {
		return err
	}
	if err := d.startSidecars(sctx); err != nil {
		return err
	}
	return d.startApps(sctx)
}

// makePods makes the node and the two pods.
func (d *run) makePods() error {
	var err error
	if d.node, err = localpod.NewNode(localpod.Options{Prefix: Prefix}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d.netns = append(d.netns, d.node.NetNS)
	if d.clientPod, err = d.addPod("client"); err != nil {
		return err
	}
	if d.serverPod, err = d.addPod("server"); err != nil {
		return err
	}
	o := d.opts
	d.setup = Setup{
		ClientPod: podInfo(d.clientPod), ServerPod: podInfo(d.serverPod),
		Protocols: o.Protocols, Rate: o.Rate, FailureRate: o.FailureRate, Duration: o.Duration,
	}
	fmt.Fprintf(o.Log, "demo: pods client (%s) and server (%s) created: network namespaces %s, %s\n",
		d.clientPod.IPv4, d.serverPod.IPv4, d.clientPod.NetNS, d.serverPod.NetNS)
	return nil
}

// startSidecars does what the init container and the sidecar container do
// in each pod, and waits until both sidecars are ready.
func (d *run) startSidecars(ctx context.Context) error {
	began := time.Now()
	for _, pod := range []*localpod.Pod{d.clientPod, d.serverPod} {
		if err := installRules(ctx, pod, d.bins.Init); err != nil {
			return err
		}
		s, err := startSidecar(pod, d.bins.Proxy)
		if err != nil {
			return err
		}
		d.sidecars = append(d.sidecars, s)
		d.pids = append(d.pids, s.proc.Pid())
	}
	for _, s := range d.sidecars {
		if err := s.waitReady(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.opts.Log, "demo: outrider-init's rules installed and outrider-proxy --sidecar (UID %d) ready in both pods after %v\n",
		proxyUser.UID, time.Since(began).Round(time.Millisecond))
	return nil
}

// startApps starts the sample server, and once it listens, the client.
func (d *run) startApps(ctx context.Context) error {
	o := d.opts
	interval := o.Interval.String()
	d.targets = map[sampleapp.Protocol]string{}
	serverArgs := []string{"server", "--failure-rate", strconv.FormatFloat(o.FailureRate, 'g', -1, 64),
		"--report-interval", interval, "--http=", "--grpc=", "--tcp="}
	var protocols []string
	for _, p := range o.Protocols {
		port := strconv.Itoa(p.DefaultPort())
		serverArgs = append(serverArgs, "--"+string(p)+"=:"+port)
		d.targets[p] = net.JoinHostPort(d.serverPod.IPv4.String(), port)
		protocols = append(protocols, string(p))
	}
	var err error
	d.server, err = startApp(d.serverPod, d.bins.App, "sample server", func(r sampleapp.ServerReport) bool { return r.Final }, serverArgs...)
	if err != nil {
		return err
	}
	d.pids = append(d.pids, d.server.proc.Pid())
	if err := d.waitServer(ctx); err != nil {
		return err
	}
	d.client, err = startApp(d.clientPod, d.bins.App, "sample client", func(r sampleapp.ClientReport) bool { return r.Final },
		"client", "--server", d.serverPod.IPv4.String(), "--protocols", strings.Join(protocols, ","),
		"--rate", strconv.FormatFloat(o.Rate, 'g', -1, 64), "--report-interval", interval)
	if err != nil {
		return err
	}
	d.pids = append(d.pids, d.client.proc.Pid())
	fmt.Fprintf(o.Log, "demo: sample server and client running as UID %d; load: %s at %v req/s each\n",
		appUser.UID, strings.Join(protocols, ", "), o.Rate)
	return nil
}

func (d *run) addPod(name string) (*localpod.Pod, error) {
	p, err := d.node.AddPod(name)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	d.netns = append(d.netns, p.NetNS)
	return p, nil
}

// waitServer waits for the server's first report, written once it listens.
func (d *run) waitServer(ctx context.Context) error {
	for !d.server.report().Ready {
		select {
		case <-d.server.final:
			return fmt.Errorf("demo: the sample server exited: %v\n%s", d.server.proc.Wait(), d.server.log)
		case <-ctx.Done():
			return fmt.Errorf("demo: the sample server did not start: %w\n%s", context.Cause(ctx), d.server.log)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

func podInfo(p *localpod.Pod) Pod {
	info := Pod{Name: p.Name, NetNS: p.NetNS, IPv4: p.IPv4.String()}
	if p.IPv6.IsValid() {
		info.IPv6 = p.IPv6.String()
	}
	return info
}

// close kills whatever still runs, deletes the namespaces (and with them
// the rules in them) and checks that nothing is left.
func (d *run) close() (Cleanup, error) {
	c := Cleanup{Namespaces: d.netns, Processes: d.pids}
	if c.Namespaces == nil {
		c.Namespaces = []string{}
	}
	if c.Processes == nil {
		c.Processes = []int{}
	}
	var errs []error
	if d.node != nil {
		if err := d.node.Close(); err != nil {
			errs = append(errs, fmt.Errorf("demo: %w", err))
		}
	}
	for _, ns := range d.netns {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			c.Left = append(c.Left, "namespace "+ns)
		}
	}
	for _, pid := range d.pids {
		if syscall.Kill(pid, 0) == nil {
			c.Left = append(c.Left, "process "+strconv.Itoa(pid))
		}
	}
	if len(c.Left) > 0 {
		errs = append(errs, fmt.Errorf("demo: left behind: %v", c.Left))
	}
	return c, errors.Join(errs...)
}
