package grpchealth

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// A real grpc-go health server on loopback.
func healthServer(t *testing.T) (string, *health.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	h := health.NewServer()
	healthpb.RegisterHealthServer(s, h)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String(), h
}

func TestCheckReportsWhatTheHealthServiceSays(t *testing.T) {
	addr, h := healthServer(t)
	h.SetServingStatus("backend", healthpb.HealthCheckResponse_NOT_SERVING)
	h.SetServingStatus("frontend", healthpb.HealthCheckResponse_SERVING)
	tests := []struct {
		name     string
		service  string
		want     Status
		wantCode int // gRPC error code; 0 when the call succeeds
	}{
		{name: "the server as a whole is serving", service: "", want: Serving},
		{name: "a serving service", service: "frontend", want: Serving},
		{name: "a service that is not serving", service: "backend", want: NotServing},
		{name: "an unknown service is a NotFound error", service: "nope", wantCode: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := Check(ctx, addr, tt.service, "test")
			var ge *Error
			switch {
			case tt.wantCode != 0:
				if !errors.As(err, &ge) || ge.Code != tt.wantCode {
					t.Fatalf("Check = %v, %v; want gRPC error code %d", got, err, tt.wantCode)
				}
			case err != nil:
				t.Fatalf("Check: %v", err)
			case got != tt.want:
				t.Errorf("status = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCheckOfAServerWithoutTheHealthServiceFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	go s.Serve(ln)
	defer s.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Check(ctx, ln.Addr().String(), "", "test")
	var ge *Error
	if !errors.As(err, &ge) || ge.Code != 12 {
		t.Fatalf("Check = %v, want Unimplemented (12)", err)
	}
	if want := "rpc error: code = Unimplemented desc = unknown service grpc.health.v1.Health"; err.Error() != want {
		t.Errorf("error = %q, want grpc-go's words %q", err.Error(), want)
	}
}

func TestCheckOfAClosedPortFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Check(ctx, addr, "", "test"); err == nil {
		t.Fatal("Check of a closed port succeeded")
	}
}

func TestMalformedResponsesAreErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
	}{
		{name: "no message", payload: nil},
		{name: "compressed", payload: []byte{1, 0, 0, 0, 0}},
		{name: "length beyond the data", payload: []byte{0, 0, 0, 0, 9, 8}},
		{name: "truncated varint", payload: []byte{0, 0, 0, 0, 2, 8, 0x80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := decode(tt.payload); err == nil {
				t.Errorf("decode = %s, want an error", s)
			}
		})
	}
}
