// Package report turns the harness's measurements into its two outputs: a
// JSON document for machines and markdown tables for people. It derives
// everything relative (latency added over the direct path, ratios to
// HAProxy, CPU per request) in one place, from raw figures.
package report

import (
	"encoding/json"
	"fmt"
	"time"
)

// Path names used for comparisons.
const (
	Direct  = "direct"
	HAProxy = "haproxy"
)

// Report is one harness run.
type Report struct {
	Date    string  `json:"date"`
	Machine Machine `json:"machine"`
	// Mode is "quick" or "full".
	Mode string `json:"mode"`
	// Rounds is how many times each scenario cycled through every path.
	Rounds    int        `json:"rounds"`
	Pinning   string     `json:"pinning"`
	Scenarios []Scenario `json:"scenarios"`
	Memory    *Memory    `json:"memory,omitempty"`
	Targets   []Target   `json:"targets,omitempty"`
	Notes     []string   `json:"notes,omitempty"`
}

// Machine says where the figures come from.
type Machine struct {
	Name     string            `json:"name"`
	CPU      string            `json:"cpu"`
	Cores    int               `json:"cores"`
	Kernel   string            `json:"kernel"`
	Go       string            `json:"go"`
	Versions map[string]string `json:"versions"`
}

// Scenario is one kind of load, applied to every path.
type Scenario struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// QPS is the fixed total rate, zero for "as fast as it goes".
	QPS         float64 `json:"qps"`
	Connections int     `json:"connections"`
	// Seconds is each path's measured time per round.
	Seconds float64 `json:"seconds_per_round"`
	// Throughput marks a bytes-moved scenario (opaque TCP) rather than a
	// requests one.
	Throughput bool `json:"throughput,omitempty"`
	// Baseline is the path added latency is counted from; empty means
	// Direct.
	Baseline string `json:"baseline,omitempty"`
	Runs     []Run  `json:"runs"`
}

// Run is one path's figures in a scenario, every round merged.
type Run struct {
	Path     string  `json:"path"`
	Requests int64   `json:"requests,omitempty"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps,omitempty"`
	// Latency is measured at the client, in microseconds.
	Latency *Latency `json:"latency_us,omitempty"`
	// Added is Latency minus the direct path's, in microseconds.
	Added *Latency `json:"added_latency_us,omitempty"`
	// ProxyCPUSeconds is the proxy process's user+system time; zero for
	// the direct path, which has no proxy.
	ProxyCPUSeconds float64 `json:"proxy_cpu_seconds,omitempty"`
	// CPUMicrosPerRequest is ProxyCPUSeconds per request, in µs; times
	// 1000 rps it is also the vCPU the proxy needs per 1000 rps (in ms).
	CPUMicrosPerRequest float64 `json:"proxy_cpu_us_per_request,omitempty"`
	// RequestsPerCPUSecond is what one fully busy core would serve.
	RequestsPerCPUSecond float64 `json:"requests_per_proxy_cpu_second,omitempty"`
	// PeakRSS is the proxy's highest resident memory during the scenario.
	PeakRSS uint64 `json:"proxy_peak_rss_bytes,omitempty"`
	// Bytes and MBPerSecond describe throughput scenarios.
	Bytes            int64   `json:"bytes,omitempty"`
	MBPerSecond      float64 `json:"mb_per_second,omitempty"`
	CPUSecondsPerGiB float64 `json:"proxy_cpu_seconds_per_gib,omitempty"`
	// VsHAProxy divides this path's figures by HAProxy's in the same run.
	VsHAProxy *Ratios `json:"vs_haproxy,omitempty"`
}

// Latency holds client-side percentiles in microseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
}

// Ratios are path ÷ HAProxy: below 1 is better for latency and CPU,
// above 1 is better for rates.
type Ratios struct {
	AddedP50             float64 `json:"added_p50,omitempty"`
	AddedP99             float64 `json:"added_p99,omitempty"`
	CPUPerRequest        float64 `json:"cpu_per_request,omitempty"`
	RequestsPerCPUSecond float64 `json:"requests_per_cpu_second,omitempty"`
	RPS                  float64 `json:"rps,omitempty"`
	MBPerSecond          float64 `json:"mb_per_second,omitempty"`
	CPUPerGiB            float64 `json:"cpu_per_gib,omitempty"`
}

// Measurement is what the harness measured for one path in one scenario.
type Measurement struct {
	Path     string
	Requests int64
	Errors   int64
	Elapsed  time.Duration
	// Percentile returns the client latency at p (0–100); nil when the
	// scenario measures bytes.
	Percentile func(p float64) time.Duration
	ProxyCPU   time.Duration
	PeakRSS    uint64
	Bytes      int64
}

// NewRun derives a Run's figures from a measurement.
func NewRun(m Measurement) Run {
	r := Run{Path: m.Path, Requests: m.Requests, Errors: m.Errors, Seconds: m.Elapsed.Seconds(), PeakRSS: m.PeakRSS, Bytes: m.Bytes}
	r.ProxyCPUSeconds = m.ProxyCPU.Seconds()
	if m.Elapsed > 0 && m.Requests > 0 {
		r.RPS = float64(m.Requests) / r.Seconds
	}
	if m.Percentile != nil && m.Requests > 0 {
		us := func(p float64) float64 { return float64(m.Percentile(p)) / 1e3 }
		r.Latency = &Latency{P50: us(50), P90: us(90), P99: us(99), P999: us(99.9)}
	}
	if m.ProxyCPU > 0 && m.Requests > 0 {
		r.CPUMicrosPerRequest = r.ProxyCPUSeconds * 1e6 / float64(m.Requests)
		r.RequestsPerCPUSecond = float64(m.Requests) / r.ProxyCPUSeconds
	}
	if m.Bytes > 0 && m.Elapsed > 0 {
		r.MBPerSecond = float64(m.Bytes) / 1e6 / r.Seconds
		if m.ProxyCPU > 0 {
			r.CPUSecondsPerGiB = r.ProxyCPUSeconds / (float64(m.Bytes) / (1 << 30))
		}
	}
	return r
}

// Compare fills every run's Added (against the baseline path) and
// VsHAProxy, when those paths are in the scenario.
func (s *Scenario) Compare() {
	base := s.Baseline
	if base == "" {
		base = Direct
	}
	direct, haproxy := s.run(base), s.run(HAProxy)
	for i := range s.Runs {
		r := &s.Runs[i]
		if direct != nil && r.Path != base && r.Latency != nil && direct.Latency != nil {
			r.Added = &Latency{
				P50:  r.Latency.P50 - direct.Latency.P50,
				P90:  r.Latency.P90 - direct.Latency.P90,
				P99:  r.Latency.P99 - direct.Latency.P99,
				P999: r.Latency.P999 - direct.Latency.P999,
			}
		}
	}
	if haproxy == nil {
		return
	}
	for i := range s.Runs {
		r := &s.Runs[i]
		if r.Path == Direct {
			continue
		}
		v := &Ratios{
			CPUPerRequest:        ratio(r.CPUMicrosPerRequest, haproxy.CPUMicrosPerRequest),
			RequestsPerCPUSecond: ratio(r.RequestsPerCPUSecond, haproxy.RequestsPerCPUSecond),
			MBPerSecond:          ratio(r.MBPerSecond, haproxy.MBPerSecond),
			CPUPerGiB:            ratio(r.CPUSecondsPerGiB, haproxy.CPUSecondsPerGiB),
		}
		if s.QPS == 0 {
			v.RPS = ratio(r.RPS, haproxy.RPS)
		}
		if r.Added != nil && haproxy.Added != nil {
			v.AddedP50 = ratio(r.Added.P50, haproxy.Added.P50)
			v.AddedP99 = ratio(r.Added.P99, haproxy.Added.P99)
		}
		r.VsHAProxy = v
	}
}

// Run returns the named path's run, or nil.
func (s *Scenario) Run(path string) *Run { return s.run(path) }

func (s *Scenario) run(path string) *Run {
	for i := range s.Runs {
		if s.Runs[i].Path == path {
			return &s.Runs[i]
		}
	}
	return nil
}

// ratio is a/b, or zero when either is unknown or b is not positive.
func ratio(a, b float64) float64 {
	if a == 0 || b <= 0 {
		return 0
	}
	return a / b
}

// JSON returns the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return append(b, '\n'), nil
}
