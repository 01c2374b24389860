package report

import (
	"fmt"
	"sort"
	"strings"
)

// Markdown renders the report as the tables committed under bench/results.
func (r *Report) Markdown() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Outrider benchmarks: %s, %s\n\n", r.Date, r.Machine.Name)
	fmt.Fprintf(&b, "Machine: %s, %d cores, Linux %s, %s.", r.Machine.CPU, r.Machine.Cores, r.Machine.Kernel, r.Machine.Go)
	if len(r.Machine.Versions) > 0 {
		names := make([]string, 0, len(r.Machine.Versions))
		for n := range r.Machine.Versions {
			names = append(names, n)
		}
		sort.Strings(names)
		for i, n := range names {
			names[i] = n + " " + r.Machine.Versions[n]
		}
		fmt.Fprintf(&b, " Peers: %s.", strings.Join(names, ", "))
	}
	fmt.Fprintf(&b, "\n\nMode: %s, %d rounds; in every round each path runs once, in turn (A B C D A B C D …), so drift hits all alike. %s\n", r.Mode, r.Rounds, r.Pinning)
	fmt.Fprintf(&b, "\nLatency is measured at the client (µs); *added* is the path's minus the direct path's. CPU is the proxy process's user+system time from /proc (µs per request; at 1000 rps, µs per request ÷ 1000 = vCPU per 1000 rps). Ratios divide by HAProxy's figure in the same run.\n")
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		fmt.Fprintf(&b, "\n## %s\n\n", s.Title)
		switch {
		case s.Throughput:
			throughputTable(&b, s)
		case s.QPS > 0:
			latencyTable(&b, s)
		default:
			maxTable(&b, s)
		}
	}
	if r.Memory != nil && len(r.Memory.Proxies) > 0 {
		memoryTable(&b, r.Memory)
	}
	if len(r.Targets) > 0 {
		b.WriteString("\n## Issue 6 targets (Outrider)\n\n| goal | measured | met |\n| --- | --- | --- |\n")
		for _, t := range r.Targets {
			met := "not measured"
			if t.Met != nil {
				met = map[bool]string{true: "yes", false: "**no**"}[*t.Met]
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Goal, t.Measured, met)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return []byte(b.String())
}

func latencyTable(b *strings.Builder, s *Scenario) {
	b.WriteString("| path | rps | p50 | p90 | p99 | p99.9 | added p50 | added p99 | proxy CPU µs/req | peak RSS MB | errors | added p50 ÷ HAProxy | added p99 ÷ HAProxy | CPU ÷ HAProxy |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range s.Runs {
		var l, a Latency
		if r.Latency != nil {
			l = *r.Latency
		}
		added := [2]string{"–", "–"}
		if r.Added != nil {
			a = *r.Added
			added = [2]string{signed(a.P50), signed(a.P99)}
		}
		v := r.VsHAProxy
		if v == nil {
			v = &Ratios{}
		}
		fmt.Fprintf(b, "| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %s | %s | %s | %d | %s | %s | %s |\n",
			r.Path, r.RPS, l.P50, l.P90, l.P99, l.P999, added[0], added[1],
			num(r.CPUMicrosPerRequest, 1), mb(r.PeakRSS), r.Errors,
			times(v.AddedP50), times(v.AddedP99), times(v.CPUPerRequest))
	}
}

func maxTable(b *strings.Builder, s *Scenario) {
	b.WriteString("| path | rps | p50 | p99 | proxy CPU µs/req | requests per proxy CPU-second | peak RSS MB | errors | rps ÷ HAProxy | per CPU-second ÷ HAProxy |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range s.Runs {
		var l Latency
		if r.Latency != nil {
			l = *r.Latency
		}
		v := r.VsHAProxy
		if v == nil {
			v = &Ratios{}
		}
		fmt.Fprintf(b, "| %s | %.0f | %.0f | %.0f | %s | %s | %s | %d | %s | %s |\n",
			r.Path, r.RPS, l.P50, l.P99, num(r.CPUMicrosPerRequest, 1), num(r.RequestsPerCPUSecond, 0),
			mb(r.PeakRSS), r.Errors, times(v.RPS), times(v.RequestsPerCPUSecond))
	}
}

func throughputTable(b *strings.Builder, s *Scenario) {
	b.WriteString("| path | MB/s | proxy CPU s per GiB | peak RSS MB | errors | MB/s ÷ HAProxy | CPU per GiB ÷ HAProxy |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range s.Runs {
		v := r.VsHAProxy
		if v == nil {
			v = &Ratios{}
		}
		fmt.Fprintf(b, "| %s | %.0f | %s | %s | %d | %s | %s |\n",
			r.Path, r.MBPerSecond, num(r.CPUSecondsPerGiB, 3), mb(r.PeakRSS), r.Errors, times(v.MBPerSecond), times(v.CPUPerGiB))
	}
}

func memoryTable(b *strings.Builder, m *Memory) {
	sizes := map[int]bool{}
	for _, p := range m.Proxies {
		for _, s := range p.Scale {
			sizes[s.Services] = true
		}
	}
	order := make([]int, 0, len(sizes))
	for n := range sizes {
		order = append(order, n)
	}
	sort.Ints(order)
	b.WriteString("\n## Memory (RSS, MB)\n\nIdle: the benchmark configuration, started and settled, no traffic yet; *anon* is private memory, *file* the executable's pages (shared by every instance on a node through the page cache). With N services: N extra clusters, each with one endpoint and one virtual host with one route, idle; Outrider's Go heap in use (admin `/memory`) in parentheses. Per added service: the growth of RSS, and of private memory alone (the file-backed part does not grow with the configuration, but how much of it is resident moves by megabytes between two starts).\n\n")
	b.WriteString("| proxy | idle | idle anon | idle file |")
	for _, n := range order {
		fmt.Fprintf(b, " %d services |", n)
	}
	b.WriteString(" KB per added service | private KB per added service |\n| --- | ---: | ---: | ---: |")
	for range order {
		b.WriteString(" ---: |")
	}
	b.WriteString(" ---: | ---: |\n")
	for _, p := range m.Proxies {
		idle := mb(p.IdleRSS)
		if p.IdleGoHeap > 0 {
			idle += " (" + mb(p.IdleGoHeap) + ")"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |", p.Path, idle, mb(p.IdleAnon), mb(p.IdleFile))
		for _, n := range order {
			cell := "–"
			for _, s := range p.Scale {
				if s.Services != n {
					continue
				}
				cell = mb(s.RSS)
				if s.GoHeap > 0 {
					cell += " (" + mb(s.GoHeap) + ")"
				}
			}
			fmt.Fprintf(b, " %s |", cell)
		}
		fmt.Fprintf(b, " %s | %s |\n", num(p.BytesPerService/1e3, 2), num(p.AnonBytesPerService/1e3, 2))
	}
}

func num(v float64, digits int) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.*f", digits, v)
}

func signed(v float64) string { return fmt.Sprintf("%+.0f", v) }

func mb(v uint64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(v)/1e6)
}

func times(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}
