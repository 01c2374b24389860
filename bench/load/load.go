// Package load drives traffic at a path under test with fortio's periodic
// runner (the load generator Istio's benchmarks use), and records every
// request's latency exactly, so that runs can be merged and any percentile
// read without histogram buckets.
package load

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"fortio.org/fortio/periodic"
	flog "fortio.org/log"
)

var quietOnce sync.Once

// quiet silences fortio's own logging, which otherwise prints every run's
// start, warm-up and per-connection report.
func quiet() {
	quietOnce.Do(func() { flog.SetLogLevelQuiet(flog.Error) })
}

// Result is what one run measured.
type Result struct {
	// Requests counts completed calls, successful or not.
	Requests int64
	// Errors counts calls that failed (non-2xx, reset, refused).
	Errors int64
	// Elapsed is the run's wall-clock length.
	Elapsed time.Duration
	// Latencies holds every call's duration in seconds, sorted.
	Latencies []float64
	// Bytes is the payload moved, for throughput runs.
	Bytes int64
}

// RPS is the achieved rate of completed calls per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Merge appends other's calls to r, as if both had run back to back.
func (r *Result) Merge(other Result) {
	r.Requests += other.Requests
	r.Errors += other.Errors
	r.Elapsed += other.Elapsed
	r.Bytes += other.Bytes
	merged := make([]float64, 0, len(r.Latencies)+len(other.Latencies))
	merged = append(merged, r.Latencies...)
	merged = append(merged, other.Latencies...)
	slices.Sort(merged)
	r.Latencies = merged
}

// Percentile returns the latency below which p percent of the calls
// finished (nearest rank), or zero without calls.
func (r Result) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	rank := int(p/100*float64(n)+0.5) - 1
	rank = max(0, min(rank, n-1))
	return time.Duration(math.Round(r.Latencies[rank] * 1e9))
}

// Pace says how fast to send.
type Pace struct {
	// Connections is the number of concurrent connections, each with one
	// call in flight at a time.
	Connections int
	// QPS is the total target rate; zero means as fast as the path answers.
	QPS float64
	// Duration is how long to send.
	Duration time.Duration
	// In, if not nil, runs connection set-up elsewhere: a pod's Do makes
	// the load's sockets inside the pod's network namespace. Sockets stay
	// where they were made, whichever goroutine uses them later.
	In func(fn func() error) error
}

// inOrHere runs fn through p.In, or directly.
func (p Pace) inOrHere(fn func() error) error {
	if p.In == nil {
		return fn()
	}
	return p.In(fn)
}

func (p Pace) runnerOptions(rec *recorder) periodic.RunnerOptions {
	qps := p.QPS
	if qps == 0 {
		qps = -1 // fortio's "no wait between calls"
	}
	return periodic.RunnerOptions{
		QPS:          qps,
		Duration:     p.Duration,
		NumThreads:   p.Connections,
		Out:          io.Discard,
		Uniform:      p.QPS > 0,
		AccessLogger: rec,
		Percentiles:  []float64{50},
	}
}

// recorder collects each thread's latencies in a slice of its own, so
// that recording takes no lock.
type recorder struct {
	threads [][]float64
	errors  []int64
}

func newRecorder(p Pace) *recorder {
	capacity := 1024
	if p.QPS > 0 {
		capacity = int(p.QPS*p.Duration.Seconds()/float64(p.Connections)) + 64
	}
	r := &recorder{threads: make([][]float64, p.Connections), errors: make([]int64, p.Connections)}
	for i := range r.threads {
		r.threads[i] = make([]float64, 0, capacity)
	}
	return r
}

var _ periodic.AccessLogger = (*recorder)(nil)

func (r *recorder) Start(ctx context.Context, _ periodic.ThreadID, _ int64, _ time.Time) context.Context {
	return ctx
}

func (r *recorder) Report(_ context.Context, t periodic.ThreadID, _ int64, _ time.Time, latency float64, ok bool, _ string) {
	r.threads[t] = append(r.threads[t], latency)
	if !ok {
		r.errors[t]++
	}
}

func (r *recorder) Info() string { return "bench latency recorder" }

func (r *recorder) result(elapsed time.Duration) Result {
	res := Result{Elapsed: elapsed}
	n := 0
	for _, t := range r.threads {
		n += len(t)
	}
	res.Latencies = make([]float64, 0, n)
	for i, t := range r.threads {
		res.Latencies = append(res.Latencies, t...)
		res.Errors += r.errors[i]
	}
	res.Requests = int64(n)
	slices.Sort(res.Latencies)
	return res
}

func checkPace(p Pace) error {
	if p.Connections < 1 {
		return fmt.Errorf("load: %d connections, want at least 1", p.Connections)
	}
	if p.Duration <= 0 {
		return fmt.Errorf("load: duration %v, want more than zero", p.Duration)
	}
	return nil
}
