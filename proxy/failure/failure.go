// Package failure holds the proxy's typed failures and the one place where
// they are mapped to HTTP status codes, local-reply bodies and Envoy
// response flags.
package failure

import (
	"errors"
	"net/http"
	"strings"
)

// Flags is a set of Envoy response flags (%RESPONSE_FLAGS%).
type Flags uint64

// Envoy's response flags, in the order Envoy prints them.
const (
	FailedLocalHealthCheck           Flags = 1 << iota // LH
	NoHealthyUpstream                                  // UH
	UpstreamRequestTimeout                             // UT
	LocalReset                                         // LR
	UpstreamRemoteReset                                // UR
	UpstreamConnectionFailure                          // UF
	UpstreamConnectionTermination                      // UC
	UpstreamOverflow                                   // UO
	NoRouteFound                                       // NR
	DelayInjected                                      // DI
	FaultInjected                                      // FI
	RateLimited                                        // RL
	UnauthorizedExternalService                        // UAEX
	RateLimitServiceError                              // RLSE
	DownstreamConnectionTermination                    // DC
	UpstreamRetryLimitExceeded                         // URX
	StreamIdleTimeout                                  // SI
	InvalidEnvoyRequestHeaders                         // IH
	DownstreamProtocolError                            // DPE
	UpstreamMaxStreamDurationReached                   // UMSDR
	ResponseFromCacheFilter                            // RFCF
	NoFilterConfigFound                                // NFCF
	DurationTimeout                                    // DT
	UpstreamProtocolError                              // UPE
	NoClusterFound                                     // NC
	OverloadManager                                    // OM
	DNSResolutionFailed                                // DF
	DropOverload                                       // DO
	DownstreamRemoteReset                              // DR
	UnconditionalDropOverload                          // UDO
)

var flagNames = [...]string{
	"LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX",
	"RLSE", "DC", "URX", "SI", "IH", "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE",
	"NC", "OM", "DF", "DO", "DR", "UDO",
}

// String formats the set as Envoy does: comma-separated short names, or "-"
// when empty.
func (f Flags) String() string {
	if f == 0 {
		return "-"
	}
	var b strings.Builder
	for i, name := range flagNames {
		if f&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
	}
	return b.String()
}

// Names returns the short names of the flags that are set.
func (f Flags) Names() []string {
	var out []string
	for i, name := range flagNames {
		if f&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// Error is a failure the proxy answers locally. Status is the HTTP status of
// the local reply; Body its text (Envoy's wording); Details the value of
// %RESPONSE_CODE_DETAILS%.
type Error struct {
	Flag    Flags
	Status  int
	Body    string
	Details string
	Cause   error
}

func (e *Error) Error() string {
	s := e.Details
	if s == "" {
		s = e.Body
	}
	if e.Cause != nil {
		return s + ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// Failures the proxy raises, each with Envoy's status, body and details.
var (
	ErrNoRoute = &Error{Flag: NoRouteFound, Status: http.StatusNotFound,
		Details: "route_not_found"}
	ErrNoCluster = &Error{Flag: NoClusterFound, Status: http.StatusServiceUnavailable,
		Body: "", Details: "cluster_not_found"}
	ErrNoHealthyUpstream = &Error{Flag: NoHealthyUpstream, Status: http.StatusServiceUnavailable,
		Body: "no healthy upstream", Details: "no_healthy_upstream"}
	ErrConnectFailure = &Error{Flag: UpstreamConnectionFailure, Status: http.StatusServiceUnavailable,
		Body:    "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
		Details: "upstream_reset_before_response_started{connection_failure}"}
	ErrOverflow = &Error{Flag: UpstreamOverflow, Status: http.StatusServiceUnavailable,
		Body:    "upstream connect error or disconnect/reset before headers. reset reason: overflow",
		Details: "upstream_reset_before_response_started{overflow}"}
	ErrUpstreamReset = &Error{Flag: UpstreamRemoteReset, Status: http.StatusServiceUnavailable,
		Body:    "upstream connect error or disconnect/reset before headers. reset reason: remote reset",
		Details: "upstream_reset_before_response_started{remote_reset}"}
	ErrRefusedStream = &Error{Flag: UpstreamRemoteReset, Status: http.StatusServiceUnavailable,
		Body:    "upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset",
		Details: "upstream_reset_before_response_started{remote_refused_stream_reset}"}
	ErrUpstreamTermination = &Error{Flag: UpstreamConnectionTermination, Status: http.StatusServiceUnavailable,
		Body:    "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
		Details: "upstream_reset_before_response_started{connection_termination}"}
	ErrUpstreamProtocol = &Error{Flag: UpstreamProtocolError, Status: http.StatusBadGateway,
		Body:    "upstream connect error or disconnect/reset before headers. reset reason: protocol error",
		Details: "upstream_reset_before_response_started{protocol_error}"}
	ErrUpstreamTimeout = &Error{Flag: UpstreamRequestTimeout, Status: http.StatusGatewayTimeout,
		Body: "upstream request timeout", Details: "upstream_response_timeout"}
	ErrPerTryTimeout = &Error{Flag: UpstreamRequestTimeout, Status: http.StatusGatewayTimeout,
		Body: "upstream request timeout", Details: "upstream_per_try_timeout"}
	ErrStreamIdleTimeout = &Error{Flag: StreamIdleTimeout, Status: http.StatusRequestTimeout,
		Body: "stream timeout", Details: "stream_idle_timeout"}
	ErrRequestTimeout = &Error{Flag: 0, Status: http.StatusRequestTimeout,
		Body: "request timeout", Details: "request_overall_timeout"}
	ErrDownstreamDisconnect = &Error{Flag: DownstreamConnectionTermination, Status: 499,
		Details: "downstream_remote_disconnect"}
	// ErrDownstreamProtocol: the downstream request broke its protocol
	// after the proxy had started to handle it (bad chunk framing in the
	// body). It is answered 400, or reset when the response has started.
	ErrDownstreamProtocol = &Error{Flag: DownstreamProtocolError, Status: http.StatusBadRequest,
		Body: "Bad Request", Details: "downstream_protocol_error"}
)

// With returns a copy of e that records cause.
func (e *Error) With(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// Is makes errors.Is match on the failure kind (flag and details), so that a
// copy made by With still matches its template.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Flag == e.Flag && t.Details == e.Details
}

// Reply is the local reply for err: its status, response flags and body.
// Errors that are not *Error are answered 503 with no flag, as an internal
// failure.
func Reply(err error) (status int, flags Flags, body string) {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Status, fe.Flag, fe.Body
	}
	return http.StatusServiceUnavailable, 0, "upstream connect error or disconnect/reset before headers"
}
