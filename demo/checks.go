package demo

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/outrider-mesh/outrider/demo/sampleapp"
)

// Check is one thing the demo sets out to show, with the figures that show
// it (or not).
type Check struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Pending means there is too little traffic yet to tell.
	Pending bool   `json:"pending,omitempty"`
	Detail  string `json:"detail"`
}

// The checks, by name.
const (
	CheckPeer       = "server-sees-the-inbound-sidecar"
	CheckRequestID  = "requests-carry-x-request-id"
	CheckOutbound   = "client-sidecar-intercepts-outbound"
	CheckInbound    = "server-sidecar-intercepts-inbound"
	CheckRetries    = "retries-hide-failures-from-the-app"
	sidecarPeerV4   = "127.0.0.6"
	sidecarPeerV6   = "::6"
	requestIDHeader = "x-request-id"
)

func checks(r Report) []Check {
	byProto := map[sampleapp.Protocol]ProtocolFigures{}
	for _, f := range r.Protocols {
		byProto[f.Protocol] = f
	}
	l7 := byProto[sampleapp.HTTP].Sent+byProto[sampleapp.GRPC].Sent > 0 ||
		slices.Contains(r.Setup.Protocols, sampleapp.HTTP) || slices.Contains(r.Setup.Protocols, sampleapp.GRPC)

	out := []Check{peerCheck(r.Interception)}
	if l7 {
		out = append(out, requestIDCheck(r.Interception))
	}
	out = append(out,
		captureCheck(CheckOutbound, "client sidecar :15001", r.Sidecars.Client, r.Final, byProto, func(f ProtocolFigures) uint64 { return f.Succeeded + f.Failed }),
		captureCheck(CheckInbound, "server sidecar :15006", r.Sidecars.Server, r.Final, byProto, func(f ProtocolFigures) uint64 { return f.ServerRequests }),
	)
	if l7 && r.Setup.FailureRate > 0 {
		out = append(out, retryCheck(r))
	}
	if r.Final {
		for i := range out {
			if out[i].Pending {
				out[i].Detail += " (too little traffic to tell)"
			}
		}
	}
	return out
}

func peerCheck(in Interception) Check {
	c := Check{Name: CheckPeer}
	var total, sidecar uint64
	for peer, n := range in.Peers {
		total += n
		if peer == sidecarPeerV4 || peer == sidecarPeerV6 {
			sidecar += n
		}
	}
	switch {
	case total == 0:
		c.Pending, c.Detail = true, "the server app has seen no request yet"
	case sidecar == total:
		c.OK = true
		c.Detail = fmt.Sprintf("the server app sees peer %s, its sidecar: %d of %d requests", peerList(in.Peers), sidecar, total)
	default:
		c.Detail = fmt.Sprintf("the server app saw peers %s: %d of %d requests bypassed its sidecar", peerList(in.Peers), total-sidecar, total)
	}
	return c
}

// peerList names the peers, the most frequent first.
func peerList(peers map[string]uint64) string {
	names := slices.Collect(maps.Keys(peers))
	slices.SortFunc(names, func(a, b string) int {
		if peers[a] != peers[b] {
			return int(peers[b]) - int(peers[a])
		}
		return strings.Compare(a, b)
	})
	if len(names) == 1 {
		return names[0]
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s (%d)", n, peers[n])
	}
	return strings.Join(parts, ", ")
}

func requestIDCheck(in Interception) Check {
	c := Check{Name: CheckRequestID}
	switch {
	case in.Requests == 0:
		c.Pending, c.Detail = true, "the server app has seen no HTTP or gRPC request yet"
	case in.WithRequestID == in.Requests:
		c.OK = true
		c.Detail = fmt.Sprintf("%s, which the client never sets, on %d of %d requests (last %s)",
			requestIDHeader, in.WithRequestID, in.Requests, shortID(in.LastRequestID))
	default:
		c.Detail = fmt.Sprintf("%d of %d HTTP and gRPC requests reached the server without an %s",
			in.Requests-in.WithRequestID, in.Requests, requestIDHeader)
	}
	return c
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// captureCheck holds when the sidecar handled at least every HTTP/gRPC
// request and TCP connection the application counted (count picks the
// application's count from a protocol's figures).
func captureCheck(name, who string, s SidecarStats, final bool, byProto map[sampleapp.Protocol]ProtocolFigures, count func(ProtocolFigures) uint64) Check {
	c := Check{Name: name}
	l7 := count(byProto[sampleapp.HTTP]) + count(byProto[sampleapp.GRPC])
	tcp := count(byProto[sampleapp.TCP])
	what := fmt.Sprintf("%s took %d connections: %d HTTP/gRPC requests, %d TCP", who, s.Connections, s.HTTPRequests, s.TCPConnections)
	switch {
	case l7+tcp == 0:
		c.Pending, c.Detail = true, who+": no traffic yet"
	case s.Connections > 0 && s.HTTPRequests >= l7 && s.TCPConnections >= tcp:
		c.OK, c.Detail = true, what
	default:
		// Counters read a moment apart may disagree until the end.
		c.Pending = !final
		c.Detail = fmt.Sprintf("%s; the app counted %d and %d", what, l7, tcp)
	}
	return c
}

func retryCheck(r Report) Check {
	c := Check{Name: CheckRetries}
	var wire, app uint64
	for _, f := range r.Protocols {
		wire += f.WireFailures
		app += f.AppFailures
	}
	s := r.Sidecars.Client
	switch {
	case wire == 0:
		c.Pending, c.Detail = true, "no failure on the wire yet"
	case s.Retries > 0 && s.RetrySuccess > 0 && app < wire:
		c.OK = true
		c.Detail = fmt.Sprintf("the server failed %d attempts; after %d retries the app saw %s", wire, s.Retries, failures(app))
	default:
		// A retry in flight shows in the counters a moment later.
		c.Pending = !r.Final
		c.Detail = fmt.Sprintf("the server failed %d attempts; after %d retries (%d successful) the app saw %s", wire, s.Retries, s.RetrySuccess, failures(app))
	}
	return c
}

func failures(n uint64) string {
	if n == 1 {
		return "1 failure"
	}
	return fmt.Sprintf("%d failures", n)
}
