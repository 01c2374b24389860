package router

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// testService implements the gRPC interop TestService's calls that the
// tests use.
type testService struct {
	testpb.UnimplementedTestServiceServer
}

func (testService) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if s := req.GetResponseStatus(); s.GetCode() != 0 {
		return nil, status.Error(codes.Code(s.GetCode()), s.GetMessage())
	}
	grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "from-upstream"))
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

func (testService) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, s grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	for _, p := range req.GetResponseParameters() {
		if err := s.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
			return err
		}
	}
	return nil
}

func (testService) StreamingInputCall(s grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	total := 0
	for {
		req, err := s.Recv()
		if err == io.EOF {
			return s.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)})
		}
		if err != nil {
			return err
		}
		total += len(req.GetPayload().GetBody())
	}
}

func (testService) FullDuplexCall(s grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	for {
		req, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		for _, p := range req.GetResponseParameters() {
			if err := s.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
				return err
			}
		}
	}
}

// grpcUpstream serves the test service with grpc-go on loopback.
func grpcUpstream(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, testService{})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

func grpcClient(t *testing.T, p *proxy) testpb.TestServiceClient {
	conn, err := grpc.NewClient("passthrough:///"+p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return testpb.NewTestServiceClient(conn)
}

func TestGRPCThroughTheRouter(t *testing.T) {
	p := newProxy(t, staticCluster("grpc", true, "", grpcUpstream(t)), `
virtual_hosts:
- name: grpc
  domains: ["*"]
  routes:
  - match: {prefix: /, grpc: {}}
    route: {cluster: grpc, timeout: 0s}
`)
	client := grpcClient(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("a unary call carries its payload and trailers", func(t *testing.T) {
		var trailer metadata.MD
		resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("ping")}}, grpc.Trailer(&trailer))
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.GetPayload().GetBody()) != "ping" || trailer.Get("x-trailer")[0] != "from-upstream" {
			t.Errorf("payload %q trailer %v", resp.GetPayload().GetBody(), trailer)
		}
	})
	t.Run("a gRPC error status passes through", func(t *testing.T) {
		_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Code: int32(codes.NotFound), Message: "no such thing"}})
		if s, _ := status.FromError(err); s.Code() != codes.NotFound || s.Message() != "no such thing" {
			t.Errorf("status %v, want NotFound \"no such thing\"", err)
		}
	})
	t.Run("server streaming delivers every message", func(t *testing.T) {
		stream, err := client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{
			ResponseParameters: []*testpb.ResponseParameters{{Size: 10}, {Size: 20000}, {Size: 30}}})
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for {
			m, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(m.GetPayload().GetBody()))
		}
		if len(sizes) != 3 || sizes[1] != 20000 {
			t.Errorf("sizes %v", sizes)
		}
	})
	t.Run("client streaming aggregates every message", func(t *testing.T) {
		stream, err := client.StreamingInputCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{5, 50000, 7} {
			if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, n)}}); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := stream.CloseAndRecv()
		if err != nil || resp.GetAggregatedPayloadSize() != 50012 {
			t.Errorf("aggregate %d, err %v", resp.GetAggregatedPayloadSize(), err)
		}
	})
	t.Run("bidirectional streaming answers each message before the next is sent", func(t *testing.T) {
		stream, err := client.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 5; i++ {
			if err := stream.Send(&testpb.StreamingOutputCallRequest{ResponseParameters: []*testpb.ResponseParameters{{Size: int32(i)}}}); err != nil {
				t.Fatal(err)
			}
			m, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if len(m.GetPayload().GetBody()) != i {
				t.Fatalf("reply %d has %d bytes", i, len(m.GetPayload().GetBody()))
			}
		}
		stream.CloseSend()
		if _, err := stream.Recv(); err != io.EOF {
			t.Errorf("end of stream: %v", err)
		}
	})
	p.expectIdle("grpc")
}

func TestGRPCLocalRepliesAreGRPCStatuses(t *testing.T) {
	p := newProxy(t, staticCluster("dead", true, "", closedAddr(t)), routeTo("dead", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := grpcClient(t, p).UnaryCall(ctx, &testpb.SimpleRequest{})
	s, _ := status.FromError(err)
	if s.Code() != codes.Unavailable {
		t.Fatalf("status %v, want Unavailable", err)
	}
	if got := p.lastInfo().Flags.String(); got != "UF" {
		t.Errorf("flags %s, want UF", got)
	}
}

func TestGRPCUnavailableIsRetried(t *testing.T) {
	calls := 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		calls++
		if calls == 1 {
			return nil, status.Error(codes.Unavailable, "warming up")
		}
		return h(ctx, req)
	}))
	testpb.RegisterTestServiceServer(srv, testService{})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	p := newProxy(t, staticCluster("grpc", true, "", ln.Addr().String()), routeTo("grpc", ", retry_policy: {retry_on: unavailable}"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := grpcClient(t, p).UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("call failed: %v", err)
	}
	if p.counter("grpc", "upstream_rq_retry") != 1 {
		t.Errorf("upstream_rq_retry = %d, want 1", p.counter("grpc", "upstream_rq_retry"))
	}
}
