package demo

import (
	"maps"
	"os"
	"testing"

	"github.com/outrider-mesh/outrider/demo/sampleapp"
)

func TestSidecarStatsArePickedFromTheAdminPage(t *testing.T) {
	// Pages read from the two sidecars of a demo (counters at 0 left out).
	server := map[sampleapp.Protocol]string{
		sampleapp.HTTP: "10.77.0.3:8080", sampleapp.GRPC: "10.77.0.3:9090", sampleapp.TCP: "10.77.0.3:9000",
	}
	tests := []struct {
		name string
		page string
		dir  direction
		want SidecarStats
	}{
		{name: "the client sidecar counts outbound traffic and retries", page: "client-sidecar.stats", dir: outbound, want: SidecarStats{
			Connections: 32, HTTPRequests: 60, TCPConnections: 30, UpstreamRequests: 70, Retries: 10, RetrySuccess: 9,
			Failures: map[sampleapp.Protocol]uint64{sampleapp.HTTP: 0, sampleapp.GRPC: 0},
		}},
		{name: "the server sidecar counts inbound traffic and the failures it carried", page: "server-sidecar.stats", dir: inbound, want: SidecarStats{
			Connections: 32, HTTPRequests: 70, TCPConnections: 30, UpstreamRequests: 70,
			Failures: map[sampleapp.Protocol]uint64{sampleapp.HTTP: 5, sampleapp.GRPC: 5},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := os.ReadFile("testdata/" + tt.page)
			if err != nil {
				t.Fatal(err)
			}
			got := sidecarStats(parseStats(string(page)), tt.dir, server)
			if got.Connections != tt.want.Connections || got.HTTPRequests != tt.want.HTTPRequests ||
				got.TCPConnections != tt.want.TCPConnections || got.UpstreamRequests != tt.want.UpstreamRequests ||
				got.Retries != tt.want.Retries || got.RetrySuccess != tt.want.RetrySuccess ||
				got.RetryLimitExceeded != tt.want.RetryLimitExceeded ||
				len(got.Failures) != len(tt.want.Failures) ||
				got.Failures[sampleapp.HTTP] != tt.want.Failures[sampleapp.HTTP] ||
				got.Failures[sampleapp.GRPC] != tt.want.Failures[sampleapp.GRPC] {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestStatAuthoritiesAreSpelledAsTheDestinationStatsSpellThem(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "IPv4", in: "10.77.0.3:8080", want: "10.77.0.3_8080"},
		{name: "IPv6", in: "[fd77::3]:8080", want: "[fd77__3]_8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statAuthority(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// state is a check's outcome in one word.
func state(c Check) string {
	switch {
	case c.OK:
		return "ok"
	case c.Pending:
		return "pending"
	}
	return "failed"
}

func TestChecksTellWhatTheDemoShowed(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Snapshot)
		want   map[string]string // check name → ok, pending or failed; absent: not made
		wantOK bool
	}{
		{name: "a demo going as it should passes every check", change: func(*Snapshot) {}, wantOK: true,
			want: map[string]string{CheckPeer: "ok", CheckRequestID: "ok", CheckOutbound: "ok", CheckInbound: "ok", CheckRetries: "ok"}},
		{name: "a peer other than the sidecar fails at once", change: func(s *Snapshot) {
			s.Server.Peers["10.77.0.2"] = 1
		}, want: map[string]string{CheckPeer: "failed"}},
		{name: "a request without an id fails at once", change: func(s *Snapshot) {
			s.Server.Protocols[sampleapp.GRPC].WithRequestID--
		}, want: map[string]string{CheckRequestID: "failed"}},
		{name: "a sidecar counter behind the app waits while the demo runs", change: func(s *Snapshot) {
			s.ClientSidecar.TCPConnections = 100
			s.ClientSidecar.Retries, s.ClientSidecar.RetrySuccess = 0, 0
		}, wantOK: true, want: map[string]string{CheckOutbound: "pending", CheckRetries: "pending"}},
		{name: "a sidecar counter behind the app at the end fails", change: func(s *Snapshot) {
			s.Final = true
			s.ClientSidecar.TCPConnections = 100
		}, want: map[string]string{CheckOutbound: "failed"}},
		{name: "failures the retries did not hide fail at the end", change: func(s *Snapshot) {
			s.Final = true
			s.ClientSidecar.Retries, s.ClientSidecar.RetrySuccess = 0, 0
		}, want: map[string]string{CheckRetries: "failed"}},
		{name: "no failure on the wire leaves the retries unproven but not failed", change: func(s *Snapshot) {
			s.Final = true
			s.Server.Protocols[sampleapp.HTTP].Failed, s.Server.Protocols[sampleapp.GRPC].Failed = 0, 0
		}, wantOK: true, want: map[string]string{CheckRetries: "pending"}},
		{name: "without failures on purpose there is no retry check", change: func(s *Snapshot) {
			s.Setup.FailureRate = 0
		}, wantOK: true, want: map[string]string{CheckRetries: ""}},
		{name: "without HTTP and gRPC there is no request id check", change: func(s *Snapshot) {
			s.Setup.Protocols = []sampleapp.Protocol{sampleapp.TCP}
		}, wantOK: true, want: map[string]string{CheckRequestID: "", CheckRetries: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := midRun()
			tt.change(&s)
			r := Build(s)
			got := map[string]string{}
			for _, c := range r.Checks {
				got[c.Name] = state(c)
			}
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("check %s: %q, want %q (checks: %+v)", name, got[name], want, r.Checks)
				}
			}
			if r.OK() != tt.wantOK {
				t.Errorf("OK() = %v, want %v (checks: %+v)", r.OK(), tt.wantOK, r.Checks)
			}
		})
	}
}

func TestTheReportDerivesRatesAndLatencies(t *testing.T) {
	r := Build(midRun())
	http := r.Protocols[0]
	if http.Protocol != sampleapp.HTTP || http.AppFailures != 1 || http.WireFailures != 32 || http.SidecarFailures != 32 {
		t.Errorf("HTTP figures %+v", http)
	}
	if want := 119.0 / 120; http.SuccessRate != want {
		t.Errorf("success rate %v, want %v", http.SuccessRate, want)
	}
	if !(http.LatencyMS.P50 > 0 && http.LatencyMS.P50 <= http.LatencyMS.P90 && http.LatencyMS.P90 <= http.LatencyMS.P99) {
		t.Errorf("latency percentiles %+v are not ordered", http.LatencyMS)
	}
	if r.Interception.Requests != 295 || r.Interception.WithRequestID != 295 {
		t.Errorf("interception %+v: want the HTTP and gRPC requests only", r.Interception)
	}
}

func TestTheLastReadingWaitsForTheSidecarsToCountWhatTheAppsDid(t *testing.T) {
	// midRun's sidecars have counted exactly what its applications did.
	s := midRun()
	tests := []struct {
		name   string
		change func(*[2]SidecarStats)
		want   bool
	}{
		{name: "sidecars that counted everything are settled", change: func(*[2]SidecarStats) {}, want: true},
		{name: "a failure the server sidecar has not recorded yet", change: func(st *[2]SidecarStats) { st[1].Failures[sampleapp.GRPC]-- }},
		{name: "a failure the client sidecar has not recorded yet", change: func(st *[2]SidecarStats) { st[0].Failures[sampleapp.HTTP]-- }},
		{name: "a request the client sidecar has not counted yet", change: func(st *[2]SidecarStats) { st[0].HTTPRequests = 200 }},
		{name: "a connection the server sidecar has not counted yet", change: func(st *[2]SidecarStats) { st[1].TCPConnections-- }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := [2]SidecarStats{s.ClientSidecar, s.ServerSidecar}
			st[0].Failures = maps.Clone(st[0].Failures)
			st[1].Failures = maps.Clone(st[1].Failures)
			tt.change(&st)
			if got := counted(st, s.Client, s.Server); got != tt.want {
				t.Errorf("counted = %v, want %v", got, tt.want)
			}
		})
	}
}
