package load

import (
	"context"
	"fmt"
	"net"
	"time"

	"fortio.org/fortio/fgrpc"
	"fortio.org/fortio/periodic"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// GRPC is a gRPC unary load: fortio's ping service, one connection per
// Pace.Connections, each with one call in flight.
type GRPC struct {
	// Addr is host:port of a plaintext (h2c) gRPC server.
	Addr string
	Pace
}

// RunGRPC sends the load and returns what it measured. fortio's own gRPC
// runner leaves its connections open after a run; this one dials and
// closes its own, and lets fortio's periodic runner pace the calls.
func RunGRPC(g GRPC) (Result, error) {
	quiet()
	if err := checkPace(g.Pace); err != nil {
		return Result{}, err
	}
	rec := newRecorder(g.Pace)
	opts := g.runnerOptions(rec)
	r := periodic.NewPeriodicRunner(&opts)
	defer r.Options().Abort()

	n := r.Options().NumThreads
	var conns []*grpc.ClientConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		conn, err := grpc.NewClient(g.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(g.dial))
		if err != nil {
			return Result{}, fmt.Errorf("load: grpc %s: %w", g.Addr, err)
		}
		conns = append(conns, conn)
		c := &pingCall{client: fgrpc.NewPingServerClient(conn), req: &fgrpc.PingMessage{Seq: int64(i), Payload: "ping"}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.client.Ping(ctx, c.req)
		cancel()
		if err != nil {
			return Result{}, fmt.Errorf("load: grpc %s: warm-up call: %w", g.Addr, err)
		}
		r.Options().Runners[i] = c
	}
	res := r.Run()
	return rec.result(res.ActualDuration), nil
}

// dial connects through Pace.In, for grpc-go, which dials in goroutines
// of its own.
func (g GRPC) dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := g.inOrHere(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

type pingCall struct {
	client fgrpc.PingServerClient
	req    *fgrpc.PingMessage
}

func (p *pingCall) Run(ctx context.Context, _ periodic.ThreadID) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := p.client.Ping(ctx, p.req); err != nil {
		return false, err.Error()
	}
	return true, ""
}
