package http2

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// grpc-go's interop cases between grpc-go's client and grpc-go's server
// mounted as an http.Handler on the codec: every streaming kind, trailers,
// status codes, cancellation and deadlines.
func TestGRPCInteropCasesOverTheCodec(t *testing.T) {
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	addr := looptest.Serve(t, func(c net.Conn) {
		ServeConn(context.Background(), c, nil, gs, nil)
	})
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
		{name: "empty unary", run: func(ctx context.Context) { interop.DoEmptyUnaryCall(ctx, tc) }},
		{name: "large unary", run: func(ctx context.Context) { interop.DoLargeUnaryCall(ctx, tc) }},
		{name: "client streaming", run: func(ctx context.Context) { interop.DoClientStreaming(ctx, tc) }},
		{name: "server streaming", run: func(ctx context.Context) { interop.DoServerStreaming(ctx, tc) }},
		{name: "ping pong", run: func(ctx context.Context) { interop.DoPingPong(ctx, tc) }},
		{name: "empty stream", run: func(ctx context.Context) { interop.DoEmptyStream(ctx, tc) }},
		{name: "custom metadata", run: func(ctx context.Context) { interop.DoCustomMetadata(ctx, tc) }},
		{name: "status code and message", run: func(ctx context.Context) { interop.DoStatusCodeAndMessage(ctx, tc) }},
		{name: "special status message", run: func(ctx context.Context) { interop.DoSpecialStatusMessage(ctx, tc) }},
		{name: "cancel after begin", run: func(ctx context.Context) { interop.DoCancelAfterBegin(ctx, tc) }},
		{name: "cancel after first response", run: func(ctx context.Context) { interop.DoCancelAfterFirstResponse(ctx, tc) }},
		{name: "timeout on sleeping server", run: func(ctx context.Context) { interop.DoTimeoutOnSleepingServer(ctx, tc) }},
		{name: "unimplemented method", run: func(ctx context.Context) { interop.DoUnimplementedMethod(ctx, cc) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c.run(ctx)
		})
	}
}
