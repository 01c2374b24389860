package demo

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/demo/sampleapp"
)

var escapes = regexp.MustCompile("\x1b\\[[0-9]*[A-Za-z]|\r")

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./demo -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s is stale (go test ./demo -update rewrites it); got:\n%s\nwant:\n%s", path, got, want)
	}
}

// latencies records n durations spread evenly from lo to hi.
func latencies(n int, lo, hi time.Duration) sampleapp.Latency {
	var l sampleapp.Latency
	for i := range n {
		l.Record(lo + time.Duration(i)*(hi-lo)/time.Duration(max(n-1, 1)))
	}
	return l
}

var demoSetup = Setup{
	ClientPod: Pod{Name: "client", NetNS: "outrider-demo-42-1-client", IPv4: "10.77.0.2", IPv6: "fd77::2"},
	ServerPod: Pod{Name: "server", NetNS: "outrider-demo-42-1-server", IPv4: "10.77.0.3", IPv6: "fd77::3"},
	Protocols: sampleapp.Protocols, Rate: 10, FailureRate: 0.2, Duration: 30 * time.Second,
}

// midRun is a demo twelve seconds in, going as it should.
func midRun() Snapshot {
	return Snapshot{
		Setup: demoSetup, Elapsed: 12*time.Second + 300*time.Millisecond,
		PerSecond: map[sampleapp.Protocol]float64{sampleapp.HTTP: 10, sampleapp.GRPC: 9.8, sampleapp.TCP: 10.1},
		Client: sampleapp.ClientReport{Protocols: map[sampleapp.Protocol]*sampleapp.ClientCounts{
			sampleapp.HTTP: {Sent: 120, Succeeded: 119, Failed: 1, Failures: map[string]uint64{"503": 1}, Latency: latencies(120, time.Millisecond, 40*time.Millisecond)},
			sampleapp.GRPC: {Sent: 118, Succeeded: 118, Latency: latencies(118, 800*time.Microsecond, 30*time.Millisecond)},
			sampleapp.TCP:  {Sent: 121, Succeeded: 121, Latency: latencies(121, 500*time.Microsecond, 3*time.Millisecond)},
		}},
		Server: sampleapp.ServerReport{Ready: true,
			Protocols: map[sampleapp.Protocol]*sampleapp.ServerCounts{
				sampleapp.HTTP: {Requests: 151, Failed: 32, WithRequestID: 151},
				sampleapp.GRPC: {Requests: 144, Failed: 26, WithRequestID: 144},
				sampleapp.TCP:  {Requests: 121},
			},
			Peers:         map[string]uint64{"127.0.0.6": 416},
			LastRequestID: "3f2a9c1e-0b7d-4e55-9a43-1c2d3e4f5a6b",
		},
		ClientSidecar: SidecarStats{Connections: 124, HTTPRequests: 238, TCPConnections: 121, UpstreamRequests: 295,
			Retries: 57, RetrySuccess: 54, RetryLimitExceeded: 1, Failures: map[sampleapp.Protocol]uint64{sampleapp.HTTP: 1}},
		ServerSidecar: SidecarStats{Connections: 123, HTTPRequests: 295, TCPConnections: 121, UpstreamRequests: 295,
			Failures: map[sampleapp.Protocol]uint64{sampleapp.HTTP: 32, sampleapp.GRPC: 26}},
	}
}

func TestTheViewRendersReports(t *testing.T) {
	tests := []struct {
		name     string
		snapshot func() Snapshot
	}{
		{name: "mid-run", snapshot: midRun},
		{name: "final", snapshot: func() Snapshot {
			s := midRun()
			s.Final, s.Elapsed = true, 30*time.Second
			return s
		}},
		{name: "before-any-traffic", snapshot: func() Snapshot {
			return Snapshot{Setup: demoSetup}
		}},
		{name: "bypassed", snapshot: func() Snapshot {
			// An app whose traffic skips the sidecars: peers are the
			// client pod, no request id, no retries.
			s := midRun()
			s.Final = true
			s.Server.Peers = map[string]uint64{"10.77.0.2": 400, "127.0.0.6": 16}
			s.Server.Protocols[sampleapp.HTTP].WithRequestID = 3
			s.Server.Protocols[sampleapp.GRPC].WithRequestID = 0
			s.ClientSidecar = SidecarStats{}
			s.Client.Protocols[sampleapp.HTTP].Failures["503"] = 32
			s.Client.Protocols[sampleapp.HTTP].Failed = 32
			return s
		}},
		{name: "tcp-only-until-interrupted", snapshot: func() Snapshot {
			s := midRun()
			s.Setup.Protocols, s.Setup.Duration, s.Setup.FailureRate = []sampleapp.Protocol{sampleapp.TCP}, 0, 0
			delete(s.Client.Protocols, sampleapp.HTTP)
			delete(s.Client.Protocols, sampleapp.GRPC)
			s.Server.Protocols = map[sampleapp.Protocol]*sampleapp.ServerCounts{sampleapp.TCP: {Requests: 121}}
			s.Server.Peers = map[string]uint64{"127.0.0.6": 121}
			s.ClientSidecar = SidecarStats{Connections: 121, TCPConnections: 121}
			s.ServerSidecar = SidecarStats{Connections: 121, TCPConnections: 121}
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build(tt.snapshot())
			golden(t, tt.name+".frame", Frame(r))
			golden(t, tt.name+".line", Line(r)+"\n")
		})
	}
}

func TestTheLiveViewRedrawsInPlaceOnATerminalTallEnough(t *testing.T) {
	tests := []struct {
		name          string
		tty           bool
		width, height int
	}{
		{name: "live-terminal", tty: true, width: 60, height: 40},
		{name: "live-pipe", tty: false},
		{name: "live-short-terminal", tty: true, width: 100, height: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			l := NewLive(&out, tt.tty, tt.width, tt.height)
			first := midRun()
			first.Elapsed = time.Second
			l.Update(Build(first))
			l.Update(Build(midRun()))
			final := midRun()
			final.Final = true
			l.Final(Build(final))
			golden(t, tt.name, strings.ReplaceAll(out.String(), "\x1b", "<ESC>"))
			if !tt.tty {
				return
			}
			// A redrawn line (erased to its end) that wrapped would move
			// the next redraw one line off.
			for _, line := range strings.Split(out.String(), "\n") {
				if !strings.HasSuffix(line, "\x1b[K") {
					continue
				}
				if text := escapes.ReplaceAllString(line, ""); len([]rune(text)) >= tt.width {
					t.Errorf("a redrawn line is %d columns wide, the terminal %d: %q", len([]rune(text)), tt.width, text)
				}
			}
		})
	}
}
