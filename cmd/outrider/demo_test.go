package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/outrider-mesh/outrider/demo/sampleapp"
)

func TestDemoCommandLine(t *testing.T) {
	demoAvailable = func() error { return errors.New("operation not permitted") }
	t.Cleanup(func() { demoAvailable = nil })
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantErrOut []string // substrings of stderr
	}{
		{name: "without root the demo says what it needs", args: []string{"demo", "--duration", "1s"}, wantCode: 1,
			wantErrOut: []string{"outrider demo: needs root", "network namespaces", "sudo"}},
		{name: "a zero rate is an error", args: []string{"demo", "--rate", "0"}, wantCode: 1, wantErrOut: []string{"--rate 0"}},
		{name: "help lists the demo's flags", args: []string{"demo", "-h"}, wantCode: 0,
			wantErrOut: []string{"-duration", "-rate", "-failure-rate", "-protocols", "-bin-dir", "-json"}},
		{name: "an unknown protocol is a usage error", args: []string{"demo", "--protocols", "http,udp"}, wantCode: 2, wantErrOut: []string{`unknown protocol "udp"`}},
		{name: "a failure rate above 1 is an error", args: []string{"demo", "--failure-rate", "1.5"}, wantCode: 1, wantErrOut: []string{"failure rate 1.5"}},
		{name: "a negative rate is an error", args: []string{"demo", "--rate", "-1"}, wantCode: 1, wantErrOut: []string{"--rate -1"}},
		{name: "arguments are a usage error", args: []string{"demo", "now"}, wantCode: 2, wantErrOut: []string{"unexpected arguments"}},
		{name: "the app needs a role", args: []string{"demo", "app"}, wantCode: 2, wantErrOut: []string{"server|client"}},
		{name: "the app has two roles only", args: []string{"demo", "app", "proxy"}, wantCode: 2, wantErrOut: []string{`unknown role "proxy"`}},
		{name: "the client needs a server", args: []string{"demo", "app", "client"}, wantCode: 2, wantErrOut: []string{"--server is required"}},
		{name: "the client needs a positive report interval", args: []string{"demo", "app", "client", "--server", "127.0.0.1", "--report-interval", "0s"},
			wantCode: 1, wantErrOut: []string{"--report-interval 0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, context.Background(), "", tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr: %s)", code, tt.wantCode, errOut)
			}
			for _, want := range tt.wantErrOut {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, errOut)
				}
			}
		})
	}
}

func TestTheDemoIsListedButItsAppIsNot(t *testing.T) {
	_, _, errOut := runCmd(t, context.Background(), "", "help")
	if !strings.Contains(errOut, "demo ") || strings.Contains(errOut, "demo app") {
		t.Errorf("usage:\n%s", errOut)
	}
}

// lastReport decodes the last JSON line of out into r.
func lastReport(t *testing.T, out string, r any) int {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), r); err != nil {
		t.Fatalf("last report: %v\n%s", err, out)
	}
	return len(lines)
}

func TestTheDemoAppReportsAsJSONLinesAndAFinalReportWhenStopped(t *testing.T) {
	// A stopped context: each side writes its first report, stops, and
	// writes its final one; the client has sent its first request.
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := sampleapp.StartServer(sampleapp.ServerConfig{Addrs: map[sampleapp.Protocol]string{
		sampleapp.HTTP: "127.0.0.1:0", sampleapp.GRPC: "127.0.0.1:0", sampleapp.TCP: "127.0.0.1:0",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	t.Run("the client sends over every protocol and reports what it saw", func(t *testing.T) {
		args := []string{"demo", "app", "client", "--server", "127.0.0.1",
			"--http-port", portOf(s, sampleapp.HTTP), "--grpc-port", portOf(s, sampleapp.GRPC), "--tcp-port", portOf(s, sampleapp.TCP)}
		code, out, errOut := runCmd(t, stopped, "", args...)
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, errOut)
		}
		var r sampleapp.ClientReport
		if n := lastReport(t, out, &r); n != 2 || !r.Final {
			t.Fatalf("%d reports, last final=%v; want a first and a final one:\n%s", n, r.Final, out)
		}
		for _, p := range sampleapp.Protocols {
			if c := r.Protocols[p]; c == nil || c.Sent != 1 || c.Succeeded != 1 {
				t.Errorf("%s: %+v, want the one request sent to succeed", p, c)
			}
		}
	})
	t.Run("the server serves only the protocols it is given", func(t *testing.T) {
		code, out, errOut := runCmd(t, stopped, "", "demo", "app", "server", "--http", "127.0.0.1:0", "--grpc=", "--tcp=", "--failure-rate", "0.5")
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, errOut)
		}
		var r sampleapp.ServerReport
		if n := lastReport(t, out, &r); n != 2 || !r.Final || !r.Ready {
			t.Fatalf("%d reports, last %+v; want a first and a final one:\n%s", n, r, out)
		}
		if len(r.Protocols) != 1 || r.Protocols[sampleapp.HTTP] == nil {
			t.Errorf("protocols %v, want http only", r.Protocols)
		}
	})
	t.Run("a server that cannot listen fails", func(t *testing.T) {
		code, _, errOut := runCmd(t, stopped, "", "demo", "app", "server", "--http", s.Addr(sampleapp.HTTP).String())
		if code != 1 || !strings.Contains(errOut, "address already in use") {
			t.Errorf("exit code %d, stderr %q", code, errOut)
		}
	})
}

func portOf(s *sampleapp.Server, p sampleapp.Protocol) string {
	addr := s.Addr(p).String()
	return addr[strings.LastIndex(addr, ":")+1:]
}
