package sampleapp

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// startServer serves every protocol on loopback until the test ends.
func startServer(t *testing.T, failureRate float64) *Server {
	t.Helper()
	s, err := StartServer(ServerConfig{FailureRate: failureRate, Addrs: map[Protocol]string{
		HTTP: "127.0.0.1:0", GRPC: "127.0.0.1:0", TCP: "127.0.0.1:0",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func targets(s *Server) map[Protocol]string {
	out := map[Protocol]string{}
	for _, p := range Protocols {
		out[p] = s.Addr(p).String()
	}
	return out
}

// runClient sends load until every protocol has completed at least n
// requests, then stops the client and returns its final report.
func runClient(t *testing.T, cfg ClientConfig, n uint64) ClientReport {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	deadline := time.After(30 * time.Second)
	for enough := false; !enough; {
		select {
		case <-deadline:
			cancel()
			<-done
			t.Fatalf("the client did not complete %d requests per protocol: %+v", n, c.Report().Protocols)
		case <-time.After(10 * time.Millisecond):
		}
		enough = true
		for _, cc := range c.Report().Protocols {
			enough = enough && cc.Succeeded+cc.Failed >= n
		}
	}
	cancel()
	<-done
	return c.Report()
}

func TestTheClientLoadsEveryProtocolAndTheServerSeesIt(t *testing.T) {
	s := startServer(t, 0)
	r := runClient(t, ClientConfig{Targets: targets(s), Rate: 200}, 5)
	if !r.Final {
		t.Error("the report after Run is not final")
	}
	srv := s.Report()
	for _, p := range Protocols {
		cc := r.Protocols[p]
		if cc.Failed != 0 || cc.Succeeded != cc.Sent || cc.Latency.Total() != cc.Sent {
			t.Errorf("%s: client saw %+v; want every request sent to succeed and be timed", p, cc)
		}
		if got := srv.Protocols[p]; got.Requests != cc.Sent || got.Failed != 0 {
			t.Errorf("%s: server saw %+v, client sent %d", p, got, cc.Sent)
		}
	}
	if len(srv.Peers) != 1 || srv.Peers["127.0.0.1"] == 0 {
		t.Errorf("server peers %v, want only 127.0.0.1", srv.Peers)
	}
	if srv.Protocols[HTTP].WithRequestID != 0 || srv.LastRequestID != "" {
		t.Errorf("without a sidecar no request carries an x-request-id, server saw %+v", srv)
	}
}

func TestAFailingServerAnswers503AndUnavailableButStillEchoes(t *testing.T) {
	s := startServer(t, 1)
	r := runClient(t, ClientConfig{Targets: targets(s), Rate: 200}, 3)
	tests := []struct {
		name     string
		protocol Protocol
		wantKind string
	}{
		{name: "HTTP answers 503", protocol: HTTP, wantKind: "503"},
		{name: "gRPC answers UNAVAILABLE", protocol: GRPC, wantKind: "Unavailable"},
		{name: "the TCP echo never fails", protocol: TCP},
	}
	srv := s.Report()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := r.Protocols[tt.protocol]
			if tt.protocol.FailureKind() != tt.wantKind {
				t.Errorf("FailureKind() = %q, want %q", tt.protocol.FailureKind(), tt.wantKind)
			}
			if tt.wantKind == "" {
				if cc.Failed != 0 || srv.Protocols[tt.protocol].Failed != 0 {
					t.Fatalf("client %+v, server %+v; want no failure", cc, srv.Protocols[tt.protocol])
				}
				return
			}
			if cc.Succeeded != 0 || cc.Failures[tt.wantKind] != cc.Sent || cc.LastError == "" {
				t.Errorf("client saw %+v; want every request to fail with %s", cc, tt.wantKind)
			}
			if got := srv.Protocols[tt.protocol].Failed; got != cc.Sent {
				t.Errorf("server failed %d requests, client sent %d", got, cc.Sent)
			}
		})
	}
}

func TestTheServerReportsTheRequestIDAndPeerItReceived(t *testing.T) {
	s := startServer(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr(HTTP).String()+"/", nil)
	req.Header.Set("X-Request-Id", "http-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reply Reply
	err = json.NewDecoder(resp.Body).Decode(&reply)
	resp.Body.Close()
	if err != nil || reply.RequestID != "http-1" || reply.Protocol != "HTTP/1.1" {
		t.Errorf("reply %+v, %v; want the request id and protocol echoed", reply, err)
	}
	if host, _, _ := net.SplitHostPort(reply.Peer); host != "127.0.0.1" {
		t.Errorf("reply peer %q, want 127.0.0.1", reply.Peer)
	}

	conn, err := grpc.NewClient("passthrough:///"+s.Addr(GRPC).String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gctx := metadata.AppendToOutgoingContext(ctx, "x-request-id", "grpc-2")
	if _, err := healthpb.NewHealthClient(conn).Check(gctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = healthpb.NewHealthClient(conn).List(ctx, &healthpb.HealthListRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("List: %v, want Unimplemented", err)
	}

	r := s.Report()
	if r.Protocols[HTTP].WithRequestID != 1 || r.Protocols[GRPC].WithRequestID != 1 || r.LastRequestID != "grpc-2" {
		t.Errorf("server report %+v %+v last %q; want one request id per protocol, grpc-2 last",
			r.Protocols[HTTP], r.Protocols[GRPC], r.LastRequestID)
	}
	if r.Peers["127.0.0.1"] != 2 {
		t.Errorf("peers %v, want two requests from 127.0.0.1", r.Peers)
	}
}

func TestAClientAtItsInFlightBoundSkipsRequestsAndTimesOut(t *testing.T) {
	// A server that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	c, err := NewClient(ClientConfig{Targets: map[Protocol]string{TCP: ln.Addr().String()}, Rate: 100, MaxInFlight: 1, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	for deadline := time.Now().Add(20 * time.Second); c.Report().Protocols[TCP].Skipped == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no request was skipped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	cc := c.Report().Protocols[TCP]
	if cc.Sent != 1 || cc.Failures["timeout"] != 1 || cc.Succeeded != 0 {
		t.Errorf("client saw %+v; want the one request sent to time out", cc)
	}
}

func TestClientAndServerConfigsAreChecked(t *testing.T) {
	tests := []struct {
		name string
		err  func() error
	}{
		{name: "a client without targets", err: func() error { _, err := NewClient(ClientConfig{Rate: 1}); return err }},
		{name: "a client without a rate", err: func() error {
			_, err := NewClient(ClientConfig{Targets: map[Protocol]string{TCP: "127.0.0.1:1"}})
			return err
		}},
		{name: "a client above the highest rate", err: func() error {
			_, err := NewClient(ClientConfig{Targets: map[Protocol]string{TCP: "127.0.0.1:1"}, Rate: MaxRate + 1})
			return err
		}},
		{name: "a server failing more than always", err: func() error { _, err := StartServer(ServerConfig{FailureRate: 1.5}); return err }},
		{name: "a server on a bad address", err: func() error {
			_, err := StartServer(ServerConfig{Addrs: map[Protocol]string{HTTP: "127.0.0.1:0", TCP: "nowhere:x"}})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.err(); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestProtocolListsAreParsed(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Protocol
		wantErr bool
	}{
		{name: "all means every protocol", in: "all", want: Protocols},
		{name: "order and case do not matter", in: "TCP, http", want: []Protocol{HTTP, TCP}},
		{name: "duplicates count once", in: "grpc,grpc", want: []Protocol{GRPC}},
		{name: "an unknown protocol is an error", in: "http,udp", wantErr: true},
		{name: "an empty list is an error", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProtocols(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}
