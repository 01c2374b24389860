package accesslog

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// getter appends one command operator's value for a stream to b. ok is
// false when the stream has no such value; the formatter then prints "-"
// (or nothing, or null in JSON).
type getter func(b []byte, in *streaminfo.Info) (out []byte, ok bool)

// operator is a compiled command operator.
type operator struct {
	get    getter
	maxLen int  // ":Z" truncation in bytes; 0 for none
	number bool // a JSON number when it is a json_format value on its own
}

// operatorSpec builds an operator from its parenthesised argument (has
// reports whether parentheses were given).
type operatorSpec func(arg string, has bool) (operator, error)

// operators are the supported command operators, by name.
var operators map[string]operatorSpec

func init() {
	operators = map[string]operatorSpec{
		"START_TIME":       startTime(time.UTC),
		"START_TIME_LOCAL": startTime(time.Local),
		"EMIT_TIME":        emitTime(time.UTC),
		"EMIT_TIME_LOCAL":  emitTime(time.Local),

		"REQ":              header(requestHeaders),
		"REQUEST_HEADER":   header(requestHeaders),
		"RESP":             header(responseHeaders),
		"RESPONSE_HEADER":  header(responseHeaders),
		"TRAILER":          header(responseTrailers),
		"RESPONSE_TRAILER": header(responseTrailers),

		"RESPONSE_CODE": number(func(in *streaminfo.Info) (uint64, bool) { return uint64(in.ResponseCode), true }),
		"RESPONSE_CODE_DETAILS": text(func(in *streaminfo.Info) string {
			return in.ResponseCodeDetails
		}),
		"RESPONSE_FLAGS":      plain(func(b []byte, in *streaminfo.Info) ([]byte, bool) { return appendFlags(b, in, shortFlag), true }),
		"RESPONSE_FLAGS_LONG": plain(func(b []byte, in *streaminfo.Info) ([]byte, bool) { return appendFlags(b, in, longFlag[:]), true }),
		"CONNECTION_TERMINATION_DETAILS": text(func(in *streaminfo.Info) string {
			return in.ConnectionTermination
		}),

		"BYTES_RECEIVED":               number(func(in *streaminfo.Info) (uint64, bool) { return in.BytesReceived.Load(), true }),
		"BYTES_SENT":                   number(func(in *streaminfo.Info) (uint64, bool) { return in.BytesSent.Load(), true }),
		"UPSTREAM_WIRE_BYTES_SENT":     number(func(in *streaminfo.Info) (uint64, bool) { return in.UpstreamBytesSent.Load(), true }),
		"UPSTREAM_WIRE_BYTES_RECEIVED": number(func(in *streaminfo.Info) (uint64, bool) { return in.UpstreamBytesRecv.Load(), true }),

		"DURATION": number(func(in *streaminfo.Info) (uint64, bool) { return millis(in.Duration()), true }),
		"REQUEST_DURATION": number(func(in *streaminfo.Info) (uint64, bool) {
			return millis(in.RequestComplete), in.RequestComplete > 0
		}),
		"RESPONSE_DURATION": number(func(in *streaminfo.Info) (uint64, bool) {
			return millis(in.FirstUpstreamRxByte), in.FirstUpstreamRxByte > 0
		}),
		"RESPONSE_TX_DURATION": number(func(in *streaminfo.Info) (uint64, bool) {
			ok := in.FirstUpstreamRxByte > 0 && in.ResponseComplete >= in.FirstUpstreamRxByte
			return millis(in.ResponseComplete - in.FirstUpstreamRxByte), ok
		}),

		"PROTOCOL":                text(func(in *streaminfo.Info) string { return in.Protocol }),
		"UPSTREAM_HOST":           text(func(in *streaminfo.Info) string { return in.UpstreamHost }),
		"UPSTREAM_REMOTE_ADDRESS": text(func(in *streaminfo.Info) string { return in.UpstreamHost }),
		"UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": text(func(in *streaminfo.Info) string {
			return withoutPort(in.UpstreamHost)
		}),
		"UPSTREAM_REMOTE_PORT":   portOf(func(in *streaminfo.Info) string { return in.UpstreamHost }),
		"UPSTREAM_LOCAL_ADDRESS": text(func(in *streaminfo.Info) string { return in.UpstreamLocal }),
		"UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": text(func(in *streaminfo.Info) string {
			return withoutPort(in.UpstreamLocal)
		}),
		"UPSTREAM_LOCAL_PORT":  portOf(func(in *streaminfo.Info) string { return in.UpstreamLocal }),
		"UPSTREAM_CLUSTER":     text(func(in *streaminfo.Info) string { return in.ClusterName }),
		"UPSTREAM_CLUSTER_RAW": text(func(in *streaminfo.Info) string { return in.ClusterName }),
		"UPSTREAM_TRANSPORT_FAILURE_REASON": text(func(in *streaminfo.Info) string {
			return in.UpstreamTransportFailureReason
		}),
		"UPSTREAM_REQUEST_ATTEMPT_COUNT": number(func(in *streaminfo.Info) (uint64, bool) {
			return uint64(in.Attempts), true
		}),

		"DOWNSTREAM_REMOTE_ADDRESS":                     address(func(in *streaminfo.Info) netip.AddrPort { return in.DownstreamRemote }, true),
		"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":        address(func(in *streaminfo.Info) netip.AddrPort { return in.DownstreamRemote }, false),
		"DOWNSTREAM_REMOTE_PORT":                        port(func(in *streaminfo.Info) netip.AddrPort { return in.DownstreamRemote }),
		"DOWNSTREAM_DIRECT_REMOTE_ADDRESS":              address(func(in *streaminfo.Info) netip.AddrPort { return in.DownstreamDirect }, true),
		"DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": address(func(in *streaminfo.Info) netip.AddrPort { return in.DownstreamDirect }, false),
		"DOWNSTREAM_DIRECT_REMOTE_PORT":                 port(func(in *streaminfo.Info) netip.AddrPort { return in.DownstreamDirect }),
		"DOWNSTREAM_LOCAL_ADDRESS":                      address(func(in *streaminfo.Info) netip.AddrPort { return in.DownstreamLocal }, true),
		"DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":         address(func(in *streaminfo.Info) netip.AddrPort { return in.DownstreamLocal }, false),
		"DOWNSTREAM_LOCAL_PORT":                         port(func(in *streaminfo.Info) netip.AddrPort { return in.DownstreamLocal }),

		"REQUESTED_SERVER_NAME": text(func(in *streaminfo.Info) string { return in.RequestedServerName }),
		"ROUTE_NAME":            text(func(in *streaminfo.Info) string { return in.RouteName }),
		"FILTER_CHAIN_NAME":     text(func(in *streaminfo.Info) string { return in.FilterChainName }),
		"GRPC_STATUS":           grpcStatus(false),
		"GRPC_STATUS_NUMBER":    grpcStatus(true),

		"HOSTNAME":    constant(hostname()),
		"ENVIRONMENT": environment,
	}
	for name, spec := range tlsOperators() {
		operators[name] = spec
	}
}

func millis(d time.Duration) uint64 {
	if d < 0 {
		return 0
	}
	return uint64(d / time.Millisecond)
}

// noArg wraps an operator that takes no argument.
func noArg(op operator) operatorSpec {
	return func(_ string, has bool) (operator, error) {
		if has {
			return operator{}, fmt.Errorf("takes no argument")
		}
		return op, nil
	}
}

func plain(g getter) operatorSpec { return noArg(operator{get: g}) }

func text(f func(*streaminfo.Info) string) operatorSpec {
	return plain(func(b []byte, in *streaminfo.Info) ([]byte, bool) {
		s := f(in)
		return append(b, s...), s != ""
	})
}

func number(f func(*streaminfo.Info) (uint64, bool)) operatorSpec {
	return noArg(operator{number: true, get: func(b []byte, in *streaminfo.Info) ([]byte, bool) {
		v, ok := f(in)
		if !ok {
			return b, false
		}
		return strconv.AppendUint(b, v, 10), true
	}})
}

func constant(s string) operatorSpec {
	return plain(func(b []byte, _ *streaminfo.Info) ([]byte, bool) { return append(b, s...), s != "" })
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// environment is %ENVIRONMENT(NAME)%, read once when the format is compiled.
func environment(arg string, has bool) (operator, error) {
	if !has || arg == "" {
		return operator{}, fmt.Errorf("needs a variable name: ENVIRONMENT(NAME)")
	}
	return constant(os.Getenv(arg))("", false)
}

func address(f func(*streaminfo.Info) netip.AddrPort, withPort bool) operatorSpec {
	return plain(func(b []byte, in *streaminfo.Info) ([]byte, bool) {
		ap := f(in)
		if !ap.IsValid() {
			return b, false
		}
		if withPort {
			return ap.AppendTo(b), true
		}
		return ap.Addr().AppendTo(b), true
	})
}

func port(f func(*streaminfo.Info) netip.AddrPort) operatorSpec {
	return noArg(operator{number: true, get: func(b []byte, in *streaminfo.Info) ([]byte, bool) {
		ap := f(in)
		if !ap.IsValid() {
			return b, false
		}
		return strconv.AppendUint(b, uint64(ap.Port()), 10), true
	}})
}

// withoutPort strips ":port" from "host:port" or "[v6]:port".
func withoutPort(hostport string) string {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || strings.IndexByte(hostport, ']') > i {
		return hostport
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport[:i], "["), "]")
}

func portOf(f func(*streaminfo.Info) string) operatorSpec {
	return noArg(operator{number: true, get: func(b []byte, in *streaminfo.Info) ([]byte, bool) {
		s := f(in)
		i := strings.LastIndexByte(s, ':')
		if i < 0 || i == len(s)-1 || strings.IndexByte(s, ']') > i {
			return b, false
		}
		return append(b, s[i+1:]...), true
	}})
}

func startTime(loc *time.Location) operatorSpec {
	return func(arg string, has bool) (operator, error) {
		tf := defaultTimeFormat
		if has && arg != "" {
			var err error
			if tf, err = compileTimeFormat(arg); err != nil {
				return operator{}, err
			}
		}
		return operator{get: func(b []byte, in *streaminfo.Info) ([]byte, bool) {
			if in.Start.IsZero() {
				return b, false
			}
			return tf.appendTime(b, in.Start.In(loc)), true
		}}, nil
	}
}

func emitTime(loc *time.Location) operatorSpec {
	return func(arg string, has bool) (operator, error) {
		tf := defaultTimeFormat
		if has && arg != "" {
			var err error
			if tf, err = compileTimeFormat(arg); err != nil {
				return operator{}, err
			}
		}
		return operator{get: func(b []byte, _ *streaminfo.Info) ([]byte, bool) {
			return tf.appendTime(b, time.Now().In(loc)), true
		}}, nil
	}
}

// headerSource picks the header map an operator reads.
type headerSource int

const (
	requestHeaders headerSource = iota
	responseHeaders
	responseTrailers
)

// header is %REQ(X?Y)%, %RESP(X?Y)% and %TRAILER(X?Y)%: the first value of
// header X, or of Y when X is absent. Names are canonicalised once here, so
// the lookup on the hot path is a plain map index.
func header(src headerSource) operatorSpec {
	return func(arg string, has bool) (operator, error) {
		if !has || arg == "" {
			return operator{}, fmt.Errorf("needs a header name")
		}
		main, alt, _ := strings.Cut(arg, "?")
		if main == "" || strings.Contains(alt, "?") {
			return operator{}, fmt.Errorf("invalid header argument %q (want X or X?Y)", arg)
		}
		first, err := headerGetter(src, main)
		if err != nil {
			return operator{}, err
		}
		if alt == "" {
			return operator{get: first}, nil
		}
		second, err := headerGetter(src, alt)
		if err != nil {
			return operator{}, err
		}
		return operator{get: func(b []byte, in *streaminfo.Info) ([]byte, bool) {
			if out, ok := first(b, in); ok {
				return out, true
			}
			return second(b, in)
		}}, nil
	}
}

func headerGetter(src headerSource, name string) (getter, error) {
	lower := strings.ToLower(name)
	if src == requestHeaders {
		switch lower {
		case ":method":
			return reqField(func(r *http.Request) string { return r.Method }), nil
		case ":authority", "host":
			return reqField(func(r *http.Request) string { return r.Host }), nil
		case ":scheme":
			return reqField(requestScheme), nil
		case ":path":
			return appendPath, nil
		case ":protocol":
			return reqField(func(r *http.Request) string { return r.Header.Get(":protocol") }), nil
		}
	}
	if src == responseHeaders && lower == ":status" {
		return func(b []byte, in *streaminfo.Info) ([]byte, bool) {
			if in.ResponseCode == 0 {
				return b, false
			}
			return strconv.AppendInt(b, int64(in.ResponseCode), 10), true
		}, nil
	}
	if strings.HasPrefix(lower, ":") {
		return nil, fmt.Errorf("unknown pseudo-header %q", name)
	}
	key := textproto.CanonicalMIMEHeaderKey(name)
	return func(b []byte, in *streaminfo.Info) ([]byte, bool) {
		var h http.Header
		switch src {
		case requestHeaders:
			if in.Request != nil {
				h = in.Request.Header
			}
		case responseHeaders:
			h = in.ResponseHeader
		default:
			h = in.ResponseTrailer
		}
		if v := h[key]; len(v) > 0 && v[0] != "" {
			return append(b, v[0]...), true
		}
		return b, false
	}, nil
}

func reqField(f func(*http.Request) string) getter {
	return func(b []byte, in *streaminfo.Info) ([]byte, bool) {
		if in.Request == nil {
			return b, false
		}
		s := f(in.Request)
		return append(b, s...), s != ""
	}
}

func requestScheme(r *http.Request) string {
	if r.URL != nil && r.URL.Scheme != "" {
		return r.URL.Scheme
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// appendPath is :path, the request target as the filters left it: the
// escaped path and the query.
func appendPath(b []byte, in *streaminfo.Info) ([]byte, bool) {
	r := in.Request
	if r == nil || r.URL == nil {
		return b, false
	}
	if r.URL.Opaque != "" {
		b = append(b, r.URL.Opaque...)
	} else {
		p := r.URL.EscapedPath()
		if p == "" && r.Method != http.MethodConnect {
			p = "/"
		}
		b = append(b, p...)
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		b = append(b, '?')
		b = append(b, r.URL.RawQuery...)
	}
	return b, true
}

func errUnsupportedArg(arg string) error {
	return fmt.Errorf("unsupported argument %q", arg)
}
