package accesslog

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// DefaultFormat is Envoy's default access log format.
const DefaultFormat = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ` +
	`%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ` +
	`%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ` +
	`"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"` + "\n"

// Formatter renders one access log entry.
type Formatter interface {
	// Append appends the entry for the stream to b.
	Append(b []byte, in *streaminfo.Info) []byte
}

// segment is literal text or one operator of a format string.
type segment struct {
	literal string
	op      *operator
}

// template is a compiled format string.
type template []segment

// commandRE is Envoy's command-operator syntax: %NAME%, %NAME(arg)%,
// %NAME(arg):Z%. Any other '%' is literal text.
var commandRE = regexp.MustCompile(`^%([A-Z0-9_]+)(\(([^)]*)\))?(:([0-9]+))?%`)

// compileTemplate parses a format string.
func compileTemplate(f string) (template, error) {
	var t template
	lit := func(s string) {
		if n := len(t); n > 0 && t[n-1].op == nil {
			t[n-1].literal += s
			return
		}
		t = append(t, segment{literal: s})
	}
	for i := 0; i < len(f); {
		j := i
		for j < len(f) && f[j] != '%' {
			j++
		}
		if j > i {
			lit(f[i:j])
		}
		if j == len(f) {
			break
		}
		m := commandRE.FindStringSubmatch(f[j:])
		if m == nil {
			lit("%")
			i = j + 1
			continue
		}
		op, err := compileOperator(m[1], m[3], m[2] != "", m[5])
		if err != nil {
			return nil, err
		}
		t = append(t, segment{op: &op})
		i = j + len(m[0])
	}
	return t, nil
}

func compileOperator(name, arg string, hasArg bool, maxLen string) (operator, error) {
	spec, ok := operators[name]
	if !ok {
		if reason, known := unsupportedOperators[name]; known {
			return operator{}, fmt.Errorf("command operator %%%s%% is not supported: %s", name, reason)
		}
		return operator{}, fmt.Errorf("unknown command operator %%%s%%", name)
	}
	op, err := spec(arg, hasArg)
	if err != nil {
		return operator{}, fmt.Errorf("command operator %%%s%%: %w", name, err)
	}
	if maxLen != "" {
		n, err := strconv.Atoi(maxLen)
		if err != nil || n <= 0 {
			return operator{}, fmt.Errorf("command operator %%%s%%: invalid length %q", name, maxLen)
		}
		op.maxLen = n
	}
	return op, nil
}

// unsupportedOperators are Envoy operators this proxy knows of but cannot
// produce, with the reason given in the config error.
var unsupportedOperators = map[string]string{
	"DYNAMIC_METADATA":                         "no dynamic metadata",
	"CLUSTER_METADATA":                         "no cluster metadata",
	"UPSTREAM_METADATA":                        "no endpoint metadata",
	"METADATA":                                 "no metadata",
	"FILTER_STATE":                             "no filter state",
	"UPSTREAM_FILTER_STATE":                    "no filter state",
	"CEL":                                      "CEL is not available",
	"TRACE_ID":                                 "tracing is not available",
	"UNIQUE_ID":                                "not implemented",
	"LOCAL_REPLY_BODY":                         "not implemented",
	"VIRTUAL_CLUSTER_NAME":                     "virtual clusters are not supported",
	"CONNECTION_ID":                            "not implemented",
	"UPSTREAM_CONNECTION_ID":                   "not implemented",
	"REQ_WITHOUT_QUERY":                        "needs the req_without_query formatter extension",
	"REQUEST_HEADERS_BYTES":                    "not implemented",
	"RESPONSE_HEADERS_BYTES":                   "not implemented",
	"DOWNSTREAM_TRANSPORT_FAILURE_REASON":      "not implemented",
	"DOWNSTREAM_HANDSHAKE_DURATION":            "not implemented",
	"ROUNDTRIP_DURATION":                       "not implemented",
	"REQUEST_TX_DURATION":                      "not implemented",
	"UPSTREAM_PROTOCOL":                        "not implemented",
	"DOWNSTREAM_WIRE_BYTES_SENT":               "not implemented",
	"DOWNSTREAM_WIRE_BYTES_RECEIVED":           "not implemented",
	"UPSTREAM_HEADER_BYTES_SENT":               "not implemented",
	"UPSTREAM_HEADER_BYTES_RECEIVED":           "not implemented",
	"DOWNSTREAM_HEADER_BYTES_SENT":             "not implemented",
	"DOWNSTREAM_HEADER_BYTES_RECEIVED":         "not implemented",
	"ACCESS_LOG_TYPE":                          "not implemented",
	"UPSTREAM_TRANSPORT_FAILURE_REASON_DETAIL": "not implemented",
}

// textFormatter renders a template as text. Absent values print as "-",
// or as nothing when omitEmpty is set (omit_empty_values).
type textFormatter struct {
	t         template
	omitEmpty bool
}

func (f *textFormatter) Append(b []byte, in *streaminfo.Info) []byte {
	for i := range f.t {
		s := &f.t[i]
		if s.op == nil {
			b = append(b, s.literal...)
			continue
		}
		var ok bool
		b, ok = s.op.appendValue(b, in)
		if !ok && !f.omitEmpty {
			b = append(b, '-')
		}
	}
	return b
}

// appendValue appends the operator's value, truncated to maxLen.
func (op *operator) appendValue(b []byte, in *streaminfo.Info) ([]byte, bool) {
	start := len(b)
	b, ok := op.get(b, in)
	if !ok {
		return b[:start], false
	}
	if op.maxLen > 0 && len(b)-start > op.maxLen {
		b = b[:start+op.maxLen]
	}
	return b, true
}
