package accesslog

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// fullInfo is a finished HTTP stream with every field set.
func fullInfo() *streaminfo.Info {
	in := &streaminfo.Info{
		Start:               time.Date(2016, 4, 15, 20, 17, 0, 310_123_456, time.UTC),
		Protocol:            "HTTP/1.1",
		DownstreamLocal:     netip.MustParseAddrPort("10.0.0.5:8080"),
		DownstreamRemote:    netip.MustParseAddrPort("192.168.1.7:51234"),
		DownstreamDirect:    netip.MustParseAddrPort("[2001:db8::1]:40000"),
		RequestedServerName: "api.example.com",
		FilterChainName:     "fc0",
		Request: &http.Request{
			Method: "POST",
			Host:   "locations",
			URL:    &url.URL{Path: "/api/v1/locations", RawQuery: "a=1"},
			Header: http.Header{
				"User-Agent":      {"nsq2http"},
				"X-Request-Id":    {"cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"},
				"X-Forwarded-For": {"10.0.35.28"},
			},
		},
		RequestID:                      "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2",
		RouteName:                      "r1",
		ClusterName:                    "backend",
		UpstreamHost:                   "10.0.2.1:80",
		UpstreamLocal:                  "10.0.0.5:34567",
		UpstreamTransportFailureReason: "",
		Attempts:                       2,
		ResponseCode:                   204,
		ResponseCodeDetails:            "via_upstream",
		ResponseHeader:                 http.Header{"X-Envoy-Upstream-Service-Time": {"100"}},
		ResponseTrailer:                http.Header{"Grpc-Status": {"14"}},
		Flags:                          failure.UpstreamRetryLimitExceeded | failure.UpstreamConnectionFailure,
		RequestComplete:                20 * time.Millisecond,
		FirstUpstreamRxByte:            120 * time.Millisecond,
		ResponseComplete:               226*time.Millisecond + 700*time.Microsecond,
	}
	in.BytesReceived.Store(154)
	in.BytesSent.Store(0)
	in.UpstreamBytesSent.Store(400)
	in.UpstreamBytesRecv.Store(300)
	return in
}

func render(t *testing.T, format string, in *streaminfo.Info, omitEmpty bool) string {
	t.Helper()
	tmpl, err := compileTemplate(format)
	if err != nil {
		t.Fatalf("compile %q: %v", format, err)
	}
	return string((&textFormatter{t: tmpl, omitEmpty: omitEmpty}).Append(nil, in))
}

func TestDefaultFormatPrintsAsEnvoy(t *testing.T) {
	tests := []struct {
		name string
		info *streaminfo.Info
		want string
	}{
		{name: "a proxied request",
			info: fullInfo(),
			want: `[2016-04-15T20:17:00.310Z] "POST /api/v1/locations?a=1 HTTP/1.1" 204 UF,URX 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "10.0.2.1:80"` + "\n"},
		{name: "a local reply with nothing upstream",
			info: &streaminfo.Info{
				Start:            time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
				Protocol:         "HTTP/2",
				Request:          &http.Request{Method: "GET", Host: "h", URL: &url.URL{Path: "/x"}, Header: http.Header{}},
				ResponseCode:     404,
				Flags:            failure.NoRouteFound,
				ResponseComplete: 3 * time.Millisecond,
			},
			want: `[2026-01-02T03:04:05.006Z] "GET /x HTTP/2" 404 NR 0 0 3 - "-" "-" "-" "h" "-"` + "\n"},
		{name: "the original path wins over a rewritten one",
			info: func() *streaminfo.Info {
				in := fullInfo()
				in.Request.Header.Set("X-Envoy-Original-Path", "/orig")
				return in
			}(),
			want: `[2016-04-15T20:17:00.310Z] "POST /orig HTTP/1.1" 204 UF,URX 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "10.0.2.1:80"` + "\n"},
		{name: "a tcp connection",
			info: &streaminfo.Info{
				Start:            time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				UpstreamHost:     "10.0.0.9:5432",
				ResponseComplete: 1500 * time.Millisecond,
			},
			want: `[2026-01-02T03:04:05.000Z] "- - -" 0 - 0 0 1500 - "-" "-" "-" "-" "10.0.0.9:5432"` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, DefaultFormat, tt.info, false); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCommandOperatorsFormatTheirValues(t *testing.T) {
	tests := []struct {
		format string
		want   string
	}{
		{format: "%REQ(:METHOD)% %REQUEST_HEADER(:path)% %REQ(:SCHEME)% %REQ(HOST)%", want: "POST /api/v1/locations?a=1 http locations"},
		{format: "%REQ(X-MISSING?USER-AGENT)% %REQ(X-MISSING?X-ALSO-MISSING)%", want: "nsq2http -"},
		{format: "%REQ(USER-AGENT):3% %REQ(X-REQUEST-ID):8%", want: "nsq cc21d9b0"},
		{format: "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% %RESPONSE_HEADER(:status)% %TRAILER(GRPC-STATUS)% %RESPONSE_TRAILER(x-none)%", want: "100 204 14 -"},
		{format: "%RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %RESPONSE_FLAGS% %RESPONSE_FLAGS_LONG%", want: "204 via_upstream UF,URX UpstreamConnectionFailure,UpstreamRetryLimitExceeded"},
		{format: "%BYTES_RECEIVED% %BYTES_SENT% %UPSTREAM_WIRE_BYTES_SENT% %UPSTREAM_WIRE_BYTES_RECEIVED%", want: "154 0 400 300"},
		{format: "%DURATION% %REQUEST_DURATION% %RESPONSE_DURATION% %RESPONSE_TX_DURATION%", want: "226 20 120 106"},
		{format: "%UPSTREAM_HOST% %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %UPSTREAM_TRANSPORT_FAILURE_REASON% %UPSTREAM_REQUEST_ATTEMPT_COUNT%", want: "10.0.2.1:80 backend 10.0.0.5:34567 - 2"},
		{format: "%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %UPSTREAM_REMOTE_PORT% %UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %UPSTREAM_LOCAL_PORT%", want: "10.0.2.1 80 10.0.0.5 34567"},
		{format: "%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_PORT%", want: "192.168.1.7:51234 192.168.1.7 51234"},
		{format: "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%", want: "[2001:db8::1]:40000 2001:db8::1"},
		{format: "%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_PORT%", want: "10.0.0.5:8080 10.0.0.5 8080"},
		{format: "%REQUESTED_SERVER_NAME% %ROUTE_NAME% %FILTER_CHAIN_NAME% %CONNECTION_TERMINATION_DETAILS% %PROTOCOL%", want: "api.example.com r1 fc0 - HTTP/1.1"},
		{format: "%GRPC_STATUS% %GRPC_STATUS(NUMBER)% %GRPC_STATUS_NUMBER% %GRPC_STATUS(SNAKE_STRING)%", want: "Unavailable 14 14 UNAVAILABLE"},
		{format: "%START_TIME(%Y/%m/%d %H:%M:%S)% %START_TIME(%s.%3f)% %START_TIME(%E6S|%E*S|%f|%1f)%", want: "2016/04/15 20:17:00 1460751420.310 00.310123|00.310123456|310123456|3"},
		{format: "%START_TIME(%a %b %e %j %I%p %z %Ez %Z %%)%", want: "Fri Apr 15 106 08PM +0000 +00:00 UTC %"},
		{format: "100% literal %% and %lower% stay text", want: "100% literal %% and %lower% stay text"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			if got := render(t, tt.format, fullInfo(), false); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestOmitEmptyValuesPrintsNothingForAbsentValues(t *testing.T) {
	in := &streaminfo.Info{}
	if got := render(t, "[%UPSTREAM_HOST%][%REQ(X-A)%][%RESPONSE_CODE%]", in, true); got != "[][][0]" {
		t.Errorf("got %q, want %q", got, "[][][0]")
	}
}

func TestFormatErrorsNameTheOperator(t *testing.T) {
	tests := []struct {
		format  string
		wantErr string
	}{
		{format: "%NOPE%", wantErr: "unknown command operator %NOPE%"},
		{format: "%DYNAMIC_METADATA(a:b)%", wantErr: "%DYNAMIC_METADATA% is not supported"},
		{format: "%REQ%", wantErr: "needs a header name"},
		{format: "%REQ(A?B?C)%", wantErr: "invalid header argument"},
		{format: "%REQ(:weird)%", wantErr: "unknown pseudo-header"},
		{format: "%RESPONSE_CODE(x)%", wantErr: "takes no argument"},
		{format: "%START_TIME(%Q)%", wantErr: "unsupported directive %Q"},
		{format: "%GRPC_STATUS(LOUD)%", wantErr: "unsupported argument"},
		{format: "%ENVIRONMENT%", wantErr: "needs a variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			_, err := compileTemplate(tt.format)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEveryShortFlagHasALongName(t *testing.T) {
	if len(shortFlag) != len(longFlag) {
		t.Fatalf("%d short flag names but %d long ones: the tables drifted apart", len(shortFlag), len(longFlag))
	}
}

func BenchmarkDefaultFormat(b *testing.B) {
	tmpl, _ := compileTemplate(DefaultFormat)
	f := &textFormatter{t: tmpl}
	in := fullInfo()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = f.Append(buf[:0], in)
	}
}
