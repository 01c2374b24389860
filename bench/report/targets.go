package report

import "fmt"

// Names the targets read their figures from.
const (
	HTTP1Fixed = "http1-1000rps"
	HTTP1Max   = "http1-max"
	Outrider   = "outrider"
)

// Target is one of issue 6's goals, checked against this run.
type Target struct {
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	// Met is nil when this run did not measure what the goal needs.
	Met *bool `json:"met"`
}

// check measures one goal: ok is false when the figures are missing.
type check struct {
	goal    string
	measure func() (measured string, met, ok bool)
}

// Judge checks issue 6's targets for Outrider against the report's figures.
func (r *Report) Judge() {
	var fo, fh, mo, mh *Run
	if s := r.scenario(HTTP1Fixed); s != nil {
		fo, fh = s.Run(Outrider), s.Run(HAProxy)
	}
	if s := r.scenario(HTTP1Max); s != nil {
		mo, mh = s.Run(Outrider), s.Run(HAProxy)
	}
	mem := r.Memory.Proxy(Outrider)
	checks := []check{
		{goal: "added latency p50 and p99 at 1000 rps ≤ HAProxy's", measure: func() (string, bool, bool) {
			if fo == nil || fh == nil || fo.Added == nil || fh.Added == nil {
				return "", false, false
			}
			return fmt.Sprintf("p50 +%.0f µs vs +%.0f µs, p99 +%.0f µs vs +%.0f µs", fo.Added.P50, fh.Added.P50, fo.Added.P99, fh.Added.P99),
				fo.Added.P50 <= fh.Added.P50 && fo.Added.P99 <= fh.Added.P99, true
		}},
		{goal: "max rps per core ≥ 80% of HAProxy's", measure: func() (string, bool, bool) {
			if mo == nil || mh == nil || mo.RequestsPerCPUSecond == 0 || mh.RequestsPerCPUSecond == 0 {
				return "", false, false
			}
			q := mo.RequestsPerCPUSecond / mh.RequestsPerCPUSecond
			return fmt.Sprintf("%.0f vs %.0f requests per proxy CPU-second (%.0f%%)", mo.RequestsPerCPUSecond, mh.RequestsPerCPUSecond, 100*q), q >= 0.8, true
		}},
		{goal: "≤ 0.05 vCPU per 1000 rps (HTTP/1.1)", measure: func() (string, bool, bool) {
			if fo == nil || fo.CPUMicrosPerRequest == 0 {
				return "", false, false
			}
			return fmt.Sprintf("%.3f vCPU per 1000 rps", fo.CPUMicrosPerRequest/1000), fo.CPUMicrosPerRequest <= 50, true
		}},
		{goal: "idle RSS ≤ 20 MB", measure: func() (string, bool, bool) {
			if mem == nil || mem.IdleRSS == 0 {
				return "", false, false
			}
			return fmt.Sprintf("%.1f MB", float64(mem.IdleRSS)/1e6), mem.IdleRSS <= 20e6, true
		}},
		{goal: "RSS ≤ 30 MB at 1000 rps", measure: func() (string, bool, bool) {
			if fo == nil || fo.PeakRSS == 0 {
				return "", false, false
			}
			return fmt.Sprintf("peak %.1f MB", float64(fo.PeakRSS)/1e6), fo.PeakRSS <= 30e6, true
		}},
		{goal: "≤ 2 KB per added cluster+route", measure: func() (string, bool, bool) {
			// Judged on private memory: see AnonBytesPerService.
			if mem == nil || mem.AnonBytesPerService == 0 {
				return "", false, false
			}
			return fmt.Sprintf("%.2f KB private (RSS %.2f KB)", mem.AnonBytesPerService/1e3, mem.BytesPerService/1e3), mem.AnonBytesPerService <= 2000, true
		}},
	}
	r.Targets = r.Targets[:0]
	for _, c := range checks {
		t := Target{Goal: c.goal, Measured: "not measured"}
		if measured, met, ok := c.measure(); ok {
			t.Measured, t.Met = measured, &met
		}
		r.Targets = append(r.Targets, t)
	}
}

func (r *Report) scenario(name string) *Scenario {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name {
			return &r.Scenarios[i]
		}
	}
	return nil
}
