package demo

import (
	"time"

	"github.com/outrider-mesh/outrider/demo/sampleapp"
)

// Setup describes a demo run.
type Setup struct {
	ClientPod Pod                  `json:"client_pod"`
	ServerPod Pod                  `json:"server_pod"`
	Protocols []sampleapp.Protocol `json:"protocols"`
	// Rate is the requests per second per protocol; FailureRate the share
	// of HTTP and gRPC requests the server fails on purpose.
	Rate        float64 `json:"rate"`
	FailureRate float64 `json:"failure_rate"`
	// Duration is how long the load runs; zero means until interrupted.
	Duration time.Duration `json:"duration_ns"`
}

// Pod is one of the demo's pods.
type Pod struct {
	Name  string `json:"name"`
	NetNS string `json:"netns"`
	IPv4  string `json:"ipv4"`
	IPv6  string `json:"ipv6,omitempty"`
}

// Snapshot is everything the demo read at one moment.
type Snapshot struct {
	Setup   Setup
	Elapsed time.Duration
	// Final is set on the last snapshot, taken once the load stopped.
	Final  bool
	Client sampleapp.ClientReport
	Server sampleapp.ServerReport
	// ClientSidecar and ServerSidecar are the sidecars' counters.
	ClientSidecar, ServerSidecar SidecarStats
	// PerSecond is the client's requests per second by protocol over the
	// last interval.
	PerSecond map[sampleapp.Protocol]float64
}

// Report is what the demo shows, derived from a Snapshot: the live view
// renders it and `outrider demo --json` prints it.
type Report struct {
	Setup          Setup             `json:"setup"`
	ElapsedSeconds float64           `json:"elapsed_seconds"`
	Final          bool              `json:"final"`
	Protocols      []ProtocolFigures `json:"protocols"`
	Sidecars       struct {
		Client SidecarStats `json:"client"`
		Server SidecarStats `json:"server"`
	} `json:"sidecars"`
	Interception Interception `json:"interception"`
	// Checks are what the demo sets out to show; see Check.
	Checks []Check `json:"checks"`
	// Cleanup is filled in once the demo has removed everything.
	Cleanup *Cleanup `json:"cleanup,omitempty"`
}

// ProtocolFigures are one protocol's figures.
type ProtocolFigures struct {
	Protocol sampleapp.Protocol `json:"protocol"`
	// As the client application saw them:
	PerSecond   float64 `json:"per_second"`
	Sent        uint64  `json:"sent"`
	Succeeded   uint64  `json:"succeeded"`
	Failed      uint64  `json:"failed"`
	SuccessRate float64 `json:"success_rate"` // of completed requests; 0 when none completed
	// AppFailures are the client's failures of FailureKind: the injected
	// failures that no retry recovered.
	AppFailures uint64     `json:"app_failures"`
	FailureKind string     `json:"failure_kind,omitempty"`
	LatencyMS   Percentile `json:"latency_ms"`
	// On the wire: ServerRequests are the requests (TCP: connections) the
	// server application answered, retries included; WireFailures those it
	// failed on purpose; SidecarFailures the failures the server's sidecar
	// counted on their way back.
	ServerRequests  uint64 `json:"server_requests"`
	WireFailures    uint64 `json:"wire_failures"`
	SidecarFailures uint64 `json:"sidecar_failures"`
}

// Percentile holds latency percentiles in milliseconds.
type Percentile struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// Interception is what the server application saw of the mesh.
type Interception struct {
	// Peers counts requests (TCP: connections) by the address the server
	// saw them come from.
	Peers map[string]uint64 `json:"peers"`
	// Requests counts the HTTP and gRPC requests, WithRequestID those that
	// carried an x-request-id, which the client never sends.
	Requests      uint64 `json:"requests"`
	WithRequestID uint64 `json:"with_request_id"`
	LastRequestID string `json:"last_request_id,omitempty"`
}

// Cleanup is what the demo removed when it ended, and what it found left.
type Cleanup struct {
	Namespaces []string `json:"namespaces"` // deleted
	Processes  []int    `json:"processes"`  // started and gone
	Left       []string `json:"left,omitempty"`
}

// Build derives the report from a snapshot.
func Build(s Snapshot) Report {
	r := Report{Setup: s.Setup, ElapsedSeconds: s.Elapsed.Seconds(), Final: s.Final}
	r.Sidecars.Client, r.Sidecars.Server = s.ClientSidecar, s.ServerSidecar
	for _, p := range s.Setup.Protocols {
		f := ProtocolFigures{Protocol: p, PerSecond: s.PerSecond[p], FailureKind: p.FailureKind()}
		if c := s.Client.Protocols[p]; c != nil {
			f.Sent, f.Succeeded, f.Failed = c.Sent, c.Succeeded, c.Failed
			if f.FailureKind != "" {
				f.AppFailures = c.Failures[f.FailureKind]
			}
			if done := c.Succeeded + c.Failed; done > 0 {
				f.SuccessRate = float64(c.Succeeded) / float64(done)
			}
			f.LatencyMS = Percentile{P50: ms(c.Latency.Quantile(0.5)), P90: ms(c.Latency.Quantile(0.9)), P99: ms(c.Latency.Quantile(0.99))}
		}
		if c := s.Server.Protocols[p]; c != nil {
			f.ServerRequests, f.WireFailures = c.Requests, c.Failed
			if p != sampleapp.TCP {
				r.Interception.Requests += c.Requests
				r.Interception.WithRequestID += c.WithRequestID
			}
		}
		f.SidecarFailures = s.ServerSidecar.Failures[p]
		r.Protocols = append(r.Protocols, f)
	}
	r.Interception.Peers = s.Server.Peers
	if r.Interception.Peers == nil {
		r.Interception.Peers = map[string]uint64{}
	}
	r.Interception.LastRequestID = s.Server.LastRequestID
	r.Checks = checks(r)
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// OK reports whether every check passed; a check still pending (too
// little traffic to tell) does not count as failed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK && !c.Pending {
			return false
		}
	}
	return true
}
