package server

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// grpc-go's own interop test cases, run through the proxy: unary, every
// streaming kind, metadata and trailers, status codes, cancellation and
// deadlines.
func TestGRPCInteropCasesPassThroughTheProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)

	h2 := `    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
`
	s, addr := startProxy(t, httpProxyConfig(`              - match: {prefix: "/", grpc: {}}
                route: {cluster: grpc, timeout: 0s}`,
		staticCluster("grpc", h2, ln.Addr().String())))

	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	tc := testgrpc.NewTestServiceClient(cc)

	// The interop cases fail through grpclog.Fatal, which ends the test
	// binary with the reason.
	for _, c := range []struct {
		name string
		run  func(ctx context.Context)
	}{
		{"empty unary", func(ctx context.Context) { interop.DoEmptyUnaryCall(ctx, tc) }},
		{"large unary", func(ctx context.Context) { interop.DoLargeUnaryCall(ctx, tc) }},
		{"client streaming", func(ctx context.Context) { interop.DoClientStreaming(ctx, tc) }},
		{"server streaming", func(ctx context.Context) { interop.DoServerStreaming(ctx, tc) }},
		{"ping pong", func(ctx context.Context) { interop.DoPingPong(ctx, tc) }},
		{"empty stream", func(ctx context.Context) { interop.DoEmptyStream(ctx, tc) }},
		{"custom metadata", func(ctx context.Context) { interop.DoCustomMetadata(ctx, tc) }},
		{"status code and message", func(ctx context.Context) { interop.DoStatusCodeAndMessage(ctx, tc) }},
		{"special status message", func(ctx context.Context) { interop.DoSpecialStatusMessage(ctx, tc) }},
		{"cancel after begin", func(ctx context.Context) { interop.DoCancelAfterBegin(ctx, tc) }},
		{"cancel after first response", func(ctx context.Context) { interop.DoCancelAfterFirstResponse(ctx, tc) }},
		{"timeout on sleeping server", func(ctx context.Context) { interop.DoTimeoutOnSleepingServer(ctx, tc) }},
		{"unimplemented method", func(ctx context.Context) { interop.DoUnimplementedMethod(ctx, cc) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c.run(ctx)
		})
	}
	if got := counter(s, "cluster.grpc.upstream_rq_total"); got < 13 {
		t.Errorf("cluster.grpc.upstream_rq_total = %d; the calls did not all go through the proxy", got)
	}
}
