package demo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/outrider-mesh/outrider/demo/sampleapp"
)

// watch shows a report each time the client reports, until the duration is
// up or ctx is done; then it stops the load in order and returns the final
// report.
func (d *run) watch(ctx context.Context) (Report, error) {
	o := d.opts
	var timeUp <-chan time.Time
	if o.Duration > 0 {
		t := time.NewTimer(o.Duration)
		defer t.Stop()
		timeUp = t.C
	}
	w := watcher{run: d}
	var failure error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-timeUp:
			break loop
		case <-d.client.updated:
			o.Progress(Build(w.snapshot(ctx, d.client.report(), false)))
		case <-d.client.final:
			failure = fmt.Errorf("demo: the sample client exited: %v\n%s", d.client.proc.Wait(), d.client.log)
			break loop
		case <-d.server.final:
			failure = fmt.Errorf("demo: the sample server exited: %v\n%s", d.server.proc.Wait(), d.server.log)
			break loop
		case <-d.sidecars[0].proc.Done():
			failure = d.sidecarExited(d.sidecars[0])
			break loop
		case <-d.sidecars[1].proc.Done():
			failure = d.sidecarExited(d.sidecars[1])
			break loop
		}
	}
	if failure != nil {
		return Build(w.snapshot(ctx, d.client.report(), false)), failure
	}

	// The client stops first and finishes what it sent, then the server:
	// their last reports count every request.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := d.client.stop(sctx); err != nil {
		return Build(w.snapshot(sctx, d.client.report(), false)), err
	}
	client := d.client.report()
	if err := d.server.stop(sctx); err != nil {
		return Build(w.snapshot(sctx, client, false)), err
	}
	server := d.server.report()
	stats, err := w.settle(sctx, client, server)
	if err != nil {
		return Build(w.snapshotOf(client, server, w.sidecars, false)), err
	}
	return Build(w.snapshotOf(client, server, stats, true)), nil
}

// settleTime bounds the wait for the sidecars' last counters.
const settleTime = 5 * time.Second

// settle reads the sidecars until they have counted at least what the
// applications did: a sidecar records a request's stats as its stream
// ends, which may be just after the application has its answer. After
// settleTime it returns what it read, for the checks to judge.
func (w *watcher) settle(ctx context.Context, client sampleapp.ClientReport, server sampleapp.ServerReport) ([2]SidecarStats, error) {
	deadline := time.Now().Add(settleTime)
	for {
		stats, err := w.readSidecars(ctx)
		if err != nil {
			return stats, err
		}
		if counted(stats, client, server) || time.Now().After(deadline) {
			return stats, nil
		}
		select {
		case <-ctx.Done():
			return stats, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// counted reports whether the sidecars counted every request and failure
// the applications did.
func counted(stats [2]SidecarStats, client sampleapp.ClientReport, server sampleapp.ServerReport) bool {
	out, in := stats[0], stats[1]
	var appL7, serverL7 uint64
	for p, c := range client.Protocols {
		done := c.Succeeded + c.Failed
		switch p {
		case sampleapp.TCP:
			if out.TCPConnections < done {
				return false
			}
		default:
			appL7 += done
			if out.Failures[p] < c.Failures[p.FailureKind()] {
				return false
			}
		}
	}
	for p, c := range server.Protocols {
		switch p {
		case sampleapp.TCP:
			if in.TCPConnections < c.Requests {
				return false
			}
		default:
			serverL7 += c.Requests
			if in.Failures[p] < c.Failed {
				return false
			}
		}
	}
	return out.HTTPRequests >= appL7 && in.HTTPRequests >= serverL7
}

func (d *run) sidecarExited(s *sidecar) error {
	return fmt.Errorf("demo: the sidecar of pod %s exited: %v\n%s", s.pod.Name, s.proc.Wait(), s.log)
}

// watcher makes snapshots, remembering what it needs for rates.
type watcher struct {
	run      *run
	sidecars [2]SidecarStats        // the last readings, kept when a reading fails
	prev     sampleapp.ClientReport // the client's previous report, for rates
	rates    map[sampleapp.Protocol]float64
}

// snapshot reads the sidecars and the server's latest report beside the
// client's report. A sidecar that cannot be read keeps its last reading:
// the view goes on, and the final reading, which must succeed, decides.
func (w *watcher) snapshot(ctx context.Context, client sampleapp.ClientReport, final bool) Snapshot {
	if stats, err := w.readSidecars(ctx); err == nil {
		w.sidecars = stats
	}
	return w.snapshotOf(client, w.run.server.report(), w.sidecars, final)
}

func (w *watcher) readSidecars(ctx context.Context) ([2]SidecarStats, error) {
	var out [2]SidecarStats
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var errs []error
	for i, dir := range []direction{outbound, inbound} {
		raw, err := w.run.sidecars[i].stats(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[i] = sidecarStats(raw, dir, w.run.targets)
	}
	return out, errors.Join(errs...)
}

func (w *watcher) snapshotOf(client sampleapp.ClientReport, server sampleapp.ServerReport, sidecars [2]SidecarStats, final bool) Snapshot {
	if w.rates == nil {
		w.rates = map[sampleapp.Protocol]float64{}
	}
	if final {
		// The final rate is the average over the whole run.
		w.prev = sampleapp.ClientReport{}
	}
	if dt := (client.Elapsed - w.prev.Elapsed).Seconds(); dt > 0 {
		for p, c := range client.Protocols {
			var before uint64
			if pc := w.prev.Protocols[p]; pc != nil {
				before = pc.Sent
			}
			w.rates[p] = float64(c.Sent-before) / dt
		}
		w.prev = client
	}
	return Snapshot{
		Setup: w.run.setup, Elapsed: client.Elapsed, Final: final,
		Client: client, Server: server,
		ClientSidecar: sidecars[0], ServerSidecar: sidecars[1],
		PerSecond: maps.Clone(w.rates),
	}
}
