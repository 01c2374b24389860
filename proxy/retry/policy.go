// Package retry is Envoy's route retry_policy: which outcomes are retried
// (retry_on, retriable_status_codes), how often (num_retries, the
// max_retries breaker is the router's), how long each try may take
// (per_try_timeout), the jittered exponential back-off between tries, the
// previous_hosts predicate, and the request-body buffer that makes a
// replay possible.
package retry

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/failure"
)

// On is a set of retry_on conditions.
type On uint32

// The retry_on conditions Outrider implements, with Envoy's names.
const (
	On5xx On = 1 << iota
	OnGatewayError
	OnReset
	OnConnectFailure
	OnRetriable4xx
	OnRefusedStream
	OnRetriableStatusCodes
	OnGrpcCancelled
	OnGrpcDeadlineExceeded
	OnGrpcResourceExhausted
	OnGrpcUnavailable
)

var onNames = map[string]On{
	"5xx":                    On5xx,
	"gateway-error":          OnGatewayError,
	"reset":                  OnReset,
	"connect-failure":        OnConnectFailure,
	"retriable-4xx":          OnRetriable4xx,
	"refused-stream":         OnRefusedStream,
	"retriable-status-codes": OnRetriableStatusCodes,
	"cancelled":              OnGrpcCancelled,
	"deadline-exceeded":      OnGrpcDeadlineExceeded,
	"resource-exhausted":     OnGrpcResourceExhausted,
	"unavailable":            OnGrpcUnavailable,
}

// ParseOn parses a comma-separated retry_on value (also the
// x-envoy-retry-on and x-envoy-retry-grpc-on headers).
func ParseOn(s string) (On, error) {
	var on On
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		c, ok := onNames[name]
		if !ok {
			return on, fmt.Errorf("retry: retry_on %q is not supported", name)
		}
		on |= c
	}
	return on, nil
}

// Defaults from Envoy.
const (
	DefaultBaseInterval = 25 * time.Millisecond
	DefaultBufferLimit  = 64 << 10
)

// Policy is a translated retry_policy. It is immutable.
type Policy struct {
	On         On
	NumRetries uint32
	// PerTryTimeout bounds each try from the end of the downstream request
	// (the try's start, for a retry of a request already received) to the
	// response headers, as Envoy's does; zero means only the route
	// timeout applies.
	PerTryTimeout time.Duration
	// RetriableCodes are retriable_status_codes (with retriable-status-codes).
	RetriableCodes []int
	BaseInterval   time.Duration
	MaxInterval    time.Duration
	// AvoidPreviousHosts is the envoy.retry_host_predicates.previous_hosts
	// predicate; HostSelectionRetries its host_selection_retry_max_attempts.
	AvoidPreviousHosts   bool
	HostSelectionRetries int
}

// Translate checks pb (at path p) and returns its Policy.
func Translate(pb *routev3.RetryPolicy, p config.Path, errs *config.Errors) *Policy {
	if pb == nil {
		return nil
	}
	rejectUnsupported(errs, pb, p, "retry_on", "num_retries", "per_try_timeout", "retriable_status_codes",
		"retry_back_off", "retry_host_predicate", "host_selection_retry_max_attempts")
	pol := &Policy{NumRetries: 1, BaseInterval: DefaultBaseInterval}
	on, err := ParseOn(pb.GetRetryOn())
	if err != nil {
		errs.Add(p.Field("retry_on"), err)
	}
	pol.On = on
	if n := pb.GetNumRetries(); n != nil {
		pol.NumRetries = n.GetValue()
	}
	if d := pb.GetPerTryTimeout(); d != nil {
		pol.PerTryTimeout = d.AsDuration()
	}
	for i, c := range pb.GetRetriableStatusCodes() {
		if c < 100 || c > 599 {
			errs.Addf(p.Field("retriable_status_codes").Index(i), "retry: %d is not an HTTP status code", c)
			continue
		}
		pol.RetriableCodes = append(pol.RetriableCodes, int(c))
	}
	if b := pb.GetRetryBackOff(); b != nil {
		bp := p.Field("retry_back_off")
		rejectUnsupported(errs, b, bp, "base_interval", "max_interval")
		pol.BaseInterval = b.GetBaseInterval().AsDuration()
		if pol.BaseInterval <= 0 {
			errs.Addf(bp.Field("base_interval"), "retry: base_interval must be positive")
		}
		if m := b.GetMaxInterval(); m != nil {
			pol.MaxInterval = m.AsDuration()
			if pol.MaxInterval < pol.BaseInterval {
				errs.Addf(bp.Field("max_interval"), "retry: max_interval must not be less than base_interval")
			}
		}
	}
	if pol.MaxInterval == 0 {
		pol.MaxInterval = 10 * pol.BaseInterval
	}
	for i, hp := range pb.GetRetryHostPredicate() {
		pp := p.Field("retry_host_predicate").Index(i)
		if hp.GetName() != "envoy.retry_host_predicates.previous_hosts" {
			errs.Addf(pp.Field("name"), "retry: host predicate %q is not supported", hp.GetName())
			continue
		}
		pol.AvoidPreviousHosts = true
	}
	pol.HostSelectionRetries = int(pb.GetHostSelectionRetryMaxAttempts())
	return pol
}

// WithRequestHeaders applies the x-envoy-retry-on, x-envoy-retry-grpc-on
// and x-envoy-max-retries request headers, as Envoy does: conditions are
// added to the route's, the header count replaces it. It returns p itself
// when none is present (the usual case, which allocates nothing).
func (p *Policy) WithRequestHeaders(h http.Header) *Policy {
	on, grpcOn, maxRetries := h["X-Envoy-Retry-On"], h["X-Envoy-Retry-Grpc-On"], h["X-Envoy-Max-Retries"]
	if on == nil && grpcOn == nil && maxRetries == nil {
		return p
	}
	c := Policy{NumRetries: 1, BaseInterval: DefaultBaseInterval, MaxInterval: 10 * DefaultBaseInterval}
	if p != nil {
		c = *p
	}
	for _, v := range append(append([]string(nil), on...), grpcOn...) {
		extra, _ := ParseOn(v) // unknown names are ignored, as Envoy does
		c.On |= extra
	}
	if len(maxRetries) > 0 {
		if n, err := strconv.ParseUint(maxRetries[0], 10, 32); err == nil {
			c.NumRetries = uint32(n)
		}
	}
	return &c
}

// RetryResponse reports whether a response with status and headers
// should be retried under p.
func (p *Policy) RetryResponse(status int, h http.Header) bool {
	on := p.On
	switch {
	case on&On5xx != 0 && status >= 500 && status <= 599:
		return true
	case on&OnGatewayError != 0 && status >= 502 && status <= 504:
		return true
	case on&OnRetriable4xx != 0 && status == http.StatusConflict:
		return true
	case on&OnRetriableStatusCodes != 0 && containsInt(p.RetriableCodes, status):
		return true
	}
	if on&(OnGrpcCancelled|OnGrpcDeadlineExceeded|OnGrpcResourceExhausted|OnGrpcUnavailable) != 0 {
		// A trailers-only gRPC response carries grpc-status in its headers.
		if v := h["Grpc-Status"]; len(v) > 0 {
			switch v[0] {
			case "1":
				return on&OnGrpcCancelled != 0
			case "4":
				return on&OnGrpcDeadlineExceeded != 0
			case "8":
				return on&OnGrpcResourceExhausted != 0
			case "14":
				return on&OnGrpcUnavailable != 0
			}
		}
	}
	return false
}

// RetryError reports whether a failed try (no response) should be retried:
// connection failures, resets and per-try timeouts, as Envoy decides.
func (p *Policy) RetryError(err error) bool {
	on := p.On
	anyReset := on&(On5xx|OnGatewayError|OnReset) != 0
	switch {
	case errors.Is(err, failure.ErrConnectFailure):
		return anyReset || on&OnConnectFailure != 0
	case errors.Is(err, failure.ErrRefusedStream):
		return anyReset || on&OnRefusedStream != 0
	case errors.Is(err, failure.ErrUpstreamReset), errors.Is(err, failure.ErrUpstreamTermination),
		errors.Is(err, failure.ErrUpstreamProtocol), errors.Is(err, failure.ErrPerTryTimeout):
		return anyReset
	}
	return false
}

// Backoff is the wait before retry n (1 for the first retry): Envoy's fully
// jittered exponential back-off, a random time in [0, (2^n-1)·base), the
// upper bound capped at max.
func (p *Policy) Backoff(n int) time.Duration {
	base, maxI := p.BaseInterval, p.MaxInterval
	if base <= 0 {
		base = DefaultBaseInterval
	}
	if maxI <= 0 {
		maxI = 10 * base
	}
	limit := maxI
	if n < 32 {
		if l := time.Duration((uint64(1)<<uint(n))-1) * base; l > 0 && l < maxI {
			limit = l
		}
	}
	return time.Duration(rand.Int64N(int64(limit) + 1))
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func rejectUnsupported(errs *config.Errors, m proto.Message, p config.Path, allowed ...string) {
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		name := string(fd.Name())
		for _, a := range allowed {
			if a == name {
				return true
			}
		}
		errs.Addf(p.Field(name), "retry: %s is not supported", name)
		return true
	})
}
