package accesslog

import (
	"math/bits"
	"strconv"

	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// longFlag are the names %RESPONSE_FLAGS_LONG% prints, indexed by the bit
// position of the flag in failure.Flags (whose order is Envoy's).
var longFlag = [...]string{
	"FailedLocalHealthCheck", "NoHealthyUpstream", "UpstreamRequestTimeout", "LocalReset",
	"UpstreamRemoteReset", "UpstreamConnectionFailure", "UpstreamConnectionTermination",
	"UpstreamOverflow", "NoRouteFound", "DelayInjected", "FaultInjected", "RateLimited",
	"UnauthorizedExternalService", "RateLimitServiceError", "DownstreamConnectionTermination",
	"UpstreamRetryLimitExceeded", "StreamIdleTimeout", "InvalidEnvoyRequestHeaders",
	"DownstreamProtocolError", "UpstreamMaxStreamDurationReached", "ResponseFromCacheFilter",
	"NoFilterConfigFound", "DurationTimeout", "UpstreamProtocolError", "NoClusterFound",
	"OverloadManager", "DnsResolutionFailed", "DropOverload", "DownstreamRemoteReset",
	"UnconditionalDropOverload",
}

// shortFlag are the short names (%RESPONSE_FLAGS%), taken from the failure
// package so both stay in one order.
var shortFlag = func() []string {
	var names []string
	for i := 0; i < 64; i++ {
		n := failure.Flags(1 << i).Names()
		if len(n) == 0 {
			break
		}
		names = append(names, n[0])
	}
	return names
}()

// appendFlags appends the set flags joined by commas, or "-" when none is
// set (Envoy prints "-" rather than treating the value as absent).
func appendFlags(b []byte, in *streaminfo.Info, names []string) []byte {
	f := uint64(in.Flags)
	if f == 0 {
		return append(b, '-')
	}
	first := true
	for f != 0 {
		i := bits.TrailingZeros64(f)
		f &^= 1 << i
		if !first {
			b = append(b, ',')
		}
		first = false
		if i < len(names) {
			b = append(b, names[i]...)
		} else {
			b = strconv.AppendInt(b, int64(i), 10)
		}
	}
	return b
}

// flagByShortName resolves the names a response_flag_filter lists.
func flagByShortName(name string) (failure.Flags, bool) {
	for i, n := range shortFlag {
		if n == name {
			return failure.Flags(1 << i), true
		}
	}
	return 0, false
}

// grpcCodes are gRPC status names by code, as %GRPC_STATUS% prints them
// (Envoy's CAMEL_STRING form).
var grpcCodes = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
	"OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
}

// grpcSnake are the same names in GRPC_STATUS(SNAKE_STRING) form.
var grpcSnake = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
	"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// grpcStatusOf is the stream's grpc-status: from the trailers, or from the
// headers of a trailers-only response.
func grpcStatusOf(in *streaminfo.Info) (int, bool) {
	v := in.ResponseTrailer["Grpc-Status"]
	if len(v) == 0 {
		v = in.ResponseHeader["Grpc-Status"]
	}
	if len(v) == 0 {
		return 0, false
	}
	code, err := strconv.Atoi(v[0])
	if err != nil || code < 0 {
		return 0, false
	}
	return code, true
}

func grpcStatus(asNumber bool) operatorSpec {
	return func(arg string, has bool) (operator, error) {
		numeric := asNumber
		names := grpcCodes[:]
		if has {
			switch arg {
			case "CAMEL_STRING", "":
			case "SNAKE_STRING":
				names = grpcSnake[:]
			case "NUMBER":
				numeric = true
			default:
				return operator{}, errUnsupportedArg(arg)
			}
		}
		return operator{number: numeric, get: func(b []byte, in *streaminfo.Info) ([]byte, bool) {
			code, ok := grpcStatusOf(in)
			if !ok {
				return b, false
			}
			if numeric || code >= len(names) {
				return strconv.AppendInt(b, int64(code), 10), true
			}
			return append(b, names[code]...), true
		}}, nil
	}
}
