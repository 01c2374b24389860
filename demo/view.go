package demo

import (
	"fmt"
	"strings"
	"time"
)

// Frame renders a report as the live view's screen: what the client app
// sees, what happened on the wire, and the proof that the sidecars
// intercepted the traffic. The final report gets the same frame.
func Frame(r Report) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	elapsed := time.Duration(r.ElapsedSeconds * float64(time.Second)).Round(time.Second)
	switch {
	case r.Final:
		line("Outrider demo · finished after %v", elapsed)
	case r.Setup.Duration > 0:
		line("Outrider demo · %v of %v · Ctrl-C stops it", elapsed, r.Setup.Duration)
	default:
		line("Outrider demo · %v · Ctrl-C stops it", elapsed)
	}
	line("pod %s %s → pod %s %s; in each, outrider-init's rules send every",
		r.Setup.ClientPod.Name, r.Setup.ClientPod.IPv4, r.Setup.ServerPod.Name, r.Setup.ServerPod.IPv4)
	line("connection through outrider-proxy --sidecar (UID 1337), unknown to the app")
	l7 := hasL7(r)
	if l7 && r.Setup.FailureRate > 0 {
		line("load: %s req/s per protocol; the server fails %s%% of HTTP and gRPC on purpose",
			number(r.Setup.Rate), number(r.Setup.FailureRate*100))
	} else {
		line("load: %s req/s per protocol; the server never fails on purpose", number(r.Setup.Rate))
	}
	line("")

	line("%-24s %7s %8s %8s %8s %8s %8s", "What the client app sees", "req/s", "sent", "success", "p50", "p90", "p99")
	for _, f := range r.Protocols {
		success := "–"
		if f.Succeeded+f.Failed > 0 {
			success = percent(f.SuccessRate)
		}
		line("  %-22s %7.1f %8d %8s %8s %8s %8s", f.Protocol.Title(), f.PerSecond, f.Sent, success,
			latency(f.LatencyMS.P50), latency(f.LatencyMS.P90), latency(f.LatencyMS.P99))
	}
	line("")

	line("%-24s %15s %20s %8s", "On the wire", "server answered", "failed on purpose", "app saw")
	for _, f := range r.Protocols {
		if f.FailureKind == "" {
			line("  %-22s %15d %20s %8s", f.Protocol.Title(), f.ServerRequests, "–", "–")
			continue
		}
		line("  %-22s %15d %20s %8d", f.Protocol.Title(), f.ServerRequests,
			fmt.Sprintf("%d × %s", f.WireFailures, f.FailureKind), f.AppFailures)
	}
	if l7 {
		c := r.Sidecars.Client
		line("  client sidecar: %d retries; %d requests succeeded on a retry, %d ran out of retries",
			c.Retries, c.RetrySuccess, c.RetryLimitExceeded)
		var failed uint64
		for _, n := range r.Sidecars.Server.Failures {
			failed += n
		}
		line("  server sidecar: %d failed answers counted on their way back", failed)
	}
	line("")

	line("Interception")
	for _, ch := range r.Checks {
		line("  %s %s", mark(ch), ch.Detail)
	}
	return b.String()
}

// Line renders a report as one line, for output that is not a terminal.
func Line(r Report) string {
	elapsed := time.Duration(r.ElapsedSeconds * float64(time.Second)).Round(time.Second)
	var parts []string
	var wire, app uint64
	for _, f := range r.Protocols {
		success := "–"
		if f.Succeeded+f.Failed > 0 {
			success = percent(f.SuccessRate)
		}
		parts = append(parts, fmt.Sprintf("%s %d sent %s ok p99 %s", f.Protocol, f.Sent, success, latency(f.LatencyMS.P99)))
		wire += f.WireFailures
		app += f.AppFailures
	}
	if hasL7(r) {
		parts = append(parts, fmt.Sprintf("wire: %d failed on purpose, %d retries, app saw %d", wire, r.Sidecars.Client.Retries, app))
	}
	var total uint64
	for _, n := range r.Interception.Peers {
		total += n
	}
	if total > 0 {
		parts = append(parts, fmt.Sprintf("peers %s", peerList(r.Interception.Peers)))
	}
	if r.Interception.Requests > 0 {
		parts = append(parts, fmt.Sprintf("x-request-id %d/%d", r.Interception.WithRequestID, r.Interception.Requests))
	}
	failed := 0
	for _, ch := range r.Checks {
		if !ch.OK && !ch.Pending {
			failed++
		}
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d checks FAILED", failed))
	}
	return fmt.Sprintf("[%v] %s", elapsed, strings.Join(parts, " | "))
}

// hasL7 reports whether the report has a protocol that fails on purpose.
func hasL7(r Report) bool {
	for _, f := range r.Protocols {
		if f.FailureKind != "" {
			return true
		}
	}
	return false
}

func mark(c Check) string {
	switch {
	case c.OK:
		return "✓"
	case c.Pending:
		return "…"
	}
	return "✗"
}

func percent(v float64) string { return fmt.Sprintf("%.1f%%", v*100) }

func number(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}

// latency writes milliseconds the way people read them.
func latency(msec float64) string {
	switch {
	case msec == 0:
		return "–"
	case msec < 10:
		return fmt.Sprintf("%.2fms", msec)
	case msec < 1000:
		return fmt.Sprintf("%.0fms", msec)
	}
	return fmt.Sprintf("%.2fs", msec/1000)
}
