package sampleapp

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Protocol is one of the protocols the sample app speaks.
type Protocol string

const (
	HTTP Protocol = "http" // HTTP/1.1: GET /, 503 when failing
	GRPC Protocol = "grpc" // grpc.health.v1.Health/Check, UNAVAILABLE when failing
	TCP  Protocol = "tcp"  // a line echoed back; never fails on purpose
)

// Protocols are all protocols, in the order they are shown.
var Protocols = []Protocol{HTTP, GRPC, TCP}

// Default ports of the sample server.
const (
	DefaultHTTPPort = 8080
	DefaultGRPCPort = 9090
	DefaultTCPPort  = 9000
)

// Title is the protocol's name for people.
func (p Protocol) Title() string {
	switch p {
	case HTTP:
		return "HTTP/1.1"
	case GRPC:
		return "gRPC"
	case TCP:
		return "TCP echo"
	}
	return string(p)
}

// DefaultPort is the sample server's port for the protocol.
func (p Protocol) DefaultPort() int {
	switch p {
	case HTTP:
		return DefaultHTTPPort
	case GRPC:
		return DefaultGRPCPort
	}
	return DefaultTCPPort
}

// FailureKind is what the server answers when it fails a request on
// purpose, as the client sees it; empty for TCP, which never fails.
func (p Protocol) FailureKind() string {
	switch p {
	case HTTP:
		return "503"
	case GRPC:
		return "Unavailable"
	}
	return ""
}

// ParseProtocols parses a comma-separated list such as "http,grpc,tcp"
// (or "all") into protocols in display order, without duplicates.
func ParseProtocols(s string) ([]Protocol, error) {
	if strings.TrimSpace(s) == "all" {
		return slices.Clone(Protocols), nil
	}
	var out []Protocol
	for _, f := range strings.Split(s, ",") {
		p := Protocol(strings.ToLower(strings.TrimSpace(f)))
		if !slices.Contains(Protocols, p) {
			return nil, fmt.Errorf("sampleapp: unknown protocol %q: want http, grpc, tcp or all", f)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Protocol) int {
		return slices.Index(Protocols, a) - slices.Index(Protocols, b)
	})
	return out, nil
}

// ClientReport is what the client has seen so far, as the application
// sees it: the sidecars and their retries are invisible to it.
type ClientReport struct {
	// Elapsed is the time since the load started.
	Elapsed   time.Duration              `json:"elapsed_ns"`
	Protocols map[Protocol]*ClientCounts `json:"protocols"`
	// Final is set on the last report, written once the load stopped and
	// every request in flight ended.
	Final bool `json:"final,omitempty"`
}

// ClientCounts are one protocol's counts in a ClientReport.
type ClientCounts struct {
	Sent      uint64 `json:"sent"`      // requests started
	Succeeded uint64 `json:"succeeded"` // 200, SERVING, or the line echoed back
	Failed    uint64 `json:"failed"`
	// Failures counts failures by kind: an HTTP status ("503"), a gRPC
	// code ("Unavailable"), "timeout", "mismatch" or "error".
	Failures map[string]uint64 `json:"failures,omitempty"`
	// Skipped counts requests not sent because too many were in flight.
	Skipped   uint64 `json:"skipped,omitempty"`
	LastError string `json:"last_error,omitempty"`
	// Latency holds the duration of every completed request.
	Latency Latency `json:"latency"`
}

// ServerReport is what the server has seen so far.
type ServerReport struct {
	// Ready is set once every server listens.
	Ready     bool                       `json:"ready"`
	Protocols map[Protocol]*ServerCounts `json:"protocols"`
	// Peers counts requests (TCP: connections) by the address they came
	// from. In a pod with a sidecar it is the sidecar's 127.0.0.6 (::6).
	Peers map[string]uint64 `json:"peers"`
	// LastRequestID is the last x-request-id received.
	LastRequestID string `json:"last_request_id,omitempty"`
	Final         bool   `json:"final,omitempty"`
}

// ServerCounts are one protocol's counts in a ServerReport.
type ServerCounts struct {
	Requests uint64 `json:"requests"` // TCP: connections
	// Failed counts requests answered with the injected failure.
	Failed uint64 `json:"failed"`
	// WithRequestID counts requests that carried an x-request-id.
	WithRequestID uint64 `json:"with_request_id"`
}
