package hcm

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestH2CPriorKnowledgeRequestRunsTheChain(t *testing.T) {
	h := newHarness(t, baseConfig(t))
	resp, err := looptest.H2CClient(t).Get("http://" + h.addr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "HTTP/2 /hello" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Server"); got != "envoy" {
		t.Errorf("server = %q, want envoy (OVERWRITE)", got)
	}
	if got := resp.Header.Get("X-Route"); got != "everything" {
		t.Errorf("route = %q", got)
	}
	if got := resp.Header.Get("X-Seen-Request-Id"); !uuidRE.MatchString(got) {
		t.Errorf("x-request-id = %q, want a uuid4", got)
	}
	for name, want := range map[string]uint64{
		"downstream_rq_total": 1, "downstream_rq_2xx": 1, "downstream_cx_http2_total": 1, "downstream_rq_http2_total": 1,
	} {
		if got := h.counter(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

func TestStreamIdleTimeoutAnswers408(t *testing.T) {
	pb := baseConfig(t)
	pb.StreamIdleTimeout = durationpb.New(50 * time.Millisecond)
	h := newHarness(t, pb)
	resp, err := looptest.H2CClient(t).Get("http://" + h.addr + "/block")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || string(body) != "stream timeout" {
		t.Fatalf("got %d %q, want 408 stream timeout", resp.StatusCode, body)
	}
	if n := h.counter("downstream_rq_idle_timeout"); n != 1 {
		t.Errorf("downstream_rq_idle_timeout = %d", n)
	}
}

func TestRequestTimeoutAnswers408WhileTheBodyIsIncomplete(t *testing.T) {
	pb := baseConfig(t)
	pb.RequestTimeout = durationpb.New(50 * time.Millisecond)
	h := newHarness(t, pb)
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("partial")) // and never the end
	req, _ := http.NewRequest("POST", "http://"+h.addr+"/body", pr)
	resp, err := looptest.H2CClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the 408: %v (the stream should end)", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || string(body) != "request timeout" {
		t.Fatalf("got %d %q, want 408 request timeout", resp.StatusCode, body)
	}
	if n := h.counter("downstream_rq_timeout"); n != 1 {
		t.Errorf("downstream_rq_timeout = %d", n)
	}
}

func TestRouteOnlyChangeIsAdoptedWithoutANewConnection(t *testing.T) {
	h := newHarness(t, baseConfig(t))
	c := looptest.H2CClient(t)
	get := func() string {
		resp, err := c.Get("http://" + h.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Route")
	}
	if got := get(); got != "everything" {
		t.Fatalf("route = %q", got)
	}
	pb := baseConfig(t)
	pb.GetRouteConfig().VirtualHosts[0].Routes[0].Name = "renamed"
	next, err := Translate(pb, &testEnvWithEcho(h).Env, "typed_config")
	if err != nil {
		t.Fatal(err)
	}
	h.cm.AdoptRoutes(next)
	if got := get(); got != "renamed" {
		t.Fatalf("route after AdoptRoutes = %q, want renamed", got)
	}
	if n := h.counter("downstream_cx_total"); n != 1 {
		t.Errorf("downstream_cx_total = %d, want 1 (same connection)", n)
	}
}

func TestTranslateRejectsBadConfigWithPaths(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(pb *hcmHCM)
		want   string
	}{
		{name: "rds is not supported yet", mutate: func(pb *hcmHCM) { pb.RouteSpecifier = rdsSpecifier() },
			want: "typed_config.rds: http_connection_manager: rds is not supported yet"},
		{name: "the router must be last", mutate: func(pb *hcmHCM) { pb.HttpFilters = append(pb.HttpFilters, pb.HttpFilters[0]) },
			want: "typed_config.http_filters[0]: http_connection_manager: envoy.filters.http.router must be the last http filter"},
		{name: "unimplemented fields are named", mutate: func(pb *hcmHCM) { pb.NormalizePath = wrapBool(true) },
			want: "typed_config.normalize_path: not supported"},
		{name: "upgrades other than websocket are rejected", mutate: func(pb *hcmHCM) { pb.UpgradeConfigs = upgrade("CONNECT-UDP") },
			want: `typed_config.upgrade_configs[0].upgrade_type: http_connection_manager: upgrade "CONNECT-UDP" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := baseConfig(t)
			tt.mutate(pb)
			_, err := Translate(pb, &testEnvWithEcho(nil).Env, "typed_config")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestHTTP2SettingsFollowTheManagersOptions(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(pb *hcmHCM)
		want   map[http2.SettingID]uint32
	}{
		{
			name:   "the defaults are Envoy's",
			mutate: func(pb *hcmHCM) {},
			want: map[http2.SettingID]uint32{
				http2.SettingMaxConcurrentStreams: 1024, http2.SettingInitialWindowSize: 1 << 20,
				http2.SettingMaxFrameSize: 16384, http2.SettingMaxHeaderListSize: 60<<10 + 320,
			},
		},
		{
			name: "http2_protocol_options and max_request_headers_kb are advertised",
			mutate: func(pb *hcmHCM) {
				pb.Http2ProtocolOptions = &corev3.Http2ProtocolOptions{
					MaxConcurrentStreams:    wrapU32(7),
					InitialStreamWindowSize: wrapU32(70000),
				}
				pb.MaxRequestHeadersKb = wrapU32(10)
			},
			want: map[http2.SettingID]uint32{
				http2.SettingMaxConcurrentStreams: 7, http2.SettingInitialWindowSize: 70000,
				http2.SettingMaxFrameSize: 16384, http2.SettingMaxHeaderListSize: 10<<10 + 320,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := baseConfig(t)
			tt.mutate(pb)
			h := newHarness(t, pb)
			c := dialRawH2(t, h.addr)
			f, err := c.fr.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			sf, ok := f.(*http2.SettingsFrame)
			if !ok {
				t.Fatalf("first frame %T, want SETTINGS", f)
			}
			got := map[http2.SettingID]uint32{}
			sf.ForeachSetting(func(s http2.Setting) error { got[s.ID] = s.Val; return nil })
			if !maps.Equal(got, tt.want) {
				t.Fatalf("settings %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHTTP2HeadersOverTheLimitGet431(t *testing.T) {
	pb := baseConfig(t)
	pb.MaxRequestHeadersKb = wrapU32(1)
	h := newHarness(t, pb)
	// A raw client: x/net's would refuse to send a list over the limit
	// once it has seen the server's SETTINGS.
	c := dialRawH2(t, h.addr)
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "test"}, {":path", "/"},
		{"x-a", strings.Repeat("v", 500)}, {"x-b", strings.Repeat("v", 500)}, {"x-c", strings.Repeat("v", 500)}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: buf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("no response: %v", err)
		}
		if hf, ok := f.(*http2.MetaHeadersFrame); ok && hf.StreamID == 1 {
			if got := hf.PseudoValue("status"); got != "431" {
				t.Fatalf("status %s, want 431", got)
			}
			return
		}
	}
}

func TestAnHTTP2ConnectionOpenedDuringADrainServesOneStreamThenGoesAway(t *testing.T) {
	h := newHarness(t, baseConfig(t))
	h.cm.Drain()
	c := dialRawH2(t, h.addr)
	c.request(t, 1, "/first", true)
	var goAwayLast uint32
	sawGoAway, served := false, false
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			break // closed once the stream is done
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			sawGoAway, goAwayLast = true, f.LastStreamID
		case *http2.DataFrame:
			served = served || f.StreamID == 1 && f.StreamEnded()
		}
	}
	if !served || !sawGoAway || goAwayLast != 1 {
		t.Fatalf("served %v, GOAWAY %v (last stream %d); want the stream served and a GOAWAY keeping it", served, sawGoAway, goAwayLast)
	}
}

func TestStreamIdleTimeoutResetsAStreamWhoseClientStopsReading(t *testing.T) {
	pb := baseConfig(t)
	pb.StreamIdleTimeout = durationpb.New(200 * time.Millisecond)
	h := newHarness(t, pb)
	c := dialRawH2(t, h.addr)
	// A window of zero: the response's DATA waits for a WINDOW_UPDATE
	// that never comes.
	if err := c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	c.request(t, 1, "/big", true)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("read frame: %v (no RST_STREAM before the connection's deadline)", err)
		}
		if rst, ok := f.(*http2.RSTStreamFrame); ok && rst.StreamID == 1 {
			break
		}
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 && d.StreamEnded() {
			t.Fatal("the stream ended normally: a truncated response would look complete")
		}
	}
	// Counted before the reset was sent.
	if n := h.counter("downstream_rq_idle_timeout"); n != 1 {
		t.Errorf("downstream_rq_idle_timeout = %d", n)
	}
}
