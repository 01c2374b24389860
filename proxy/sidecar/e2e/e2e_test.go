package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/outrider-mesh/outrider/localpod"
)

// mesh is a client pod and a server pod, both with sidecars.
type mesh struct {
	client, server *sidecarPod
	app            *app
}

func newMesh(t *testing.T, backend string, proxyArgs ...string) *mesh {
	t.Helper()
	node := localpod.NewTestNode(t, localpod.Options{})
	m := &mesh{
		client: startSidecarPod(t, node, "client", backend, proxyArgs...),
		server: startSidecarPod(t, node, "server", backend, proxyArgs...),
	}
	m.app = serveApp(t, m.server)
	return m
}

func TestHTTPCrossesBothSidecarsWithEitherBackend(t *testing.T) {
	for _, backend := range []string{"iptables", "nftables"} {
		t.Run(backend, func(t *testing.T) {
			m := newMesh(t, backend)
			srv := m.server.IPv4
			tests := []struct {
				name   string
				client func() (int, string, error)
				proto  string
			}{
				{name: "HTTP/1.1", proto: "HTTP/1.1", client: func() (int, string, error) {
					return m.client.get(m.client.plainClient(), "http://"+hostPort(srv, httpPort)+"/")
				}},
				{name: "HTTP/2 with prior knowledge stays HTTP/2", proto: "HTTP/2.0", client: func() (int, string, error) {
					return m.client.get(m.client.h2cClient(), "http://"+hostPort(srv, httpPort)+"/")
				}},
				{name: "HTTP/1.1 over IPv6", proto: "HTTP/1.1", client: func() (int, string, error) {
					return m.client.get(m.client.plainClient(), "http://"+hostPort(m.server.IPv6, httpPort)+"/")
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					code, body, err := tt.client()
					if err != nil || code != 200 {
						t.Fatalf("got %d %q, %v", code, body, err)
					}
					// The server application sees the inbound sidecar
					// (127.0.0.6 or ::6), the protocol the client spoke, and
					// the request id the outbound sidecar added.
					if !strings.Contains(body, "peer=127.0.0.6:") && !strings.Contains(body, "peer=[::6]:") {
						t.Errorf("the server saw %q, not the inbound sidecar's source address", body)
					}
					if !strings.Contains(body, "proto="+tt.proto+" ") {
						t.Errorf("the server saw %q, want %s", body, tt.proto)
					}
					if strings.HasSuffix(body, "request_id=") {
						t.Errorf("no x-request-id reached the server: %q", body)
					}
				})
			}
			dest := "destination.outbound." + statAddr(srv, httpPort) + ".HTTP/1.1.rq_2xx"
			if n := m.client.waitStat(t, dest, 1); n != 1 {
				t.Errorf("client sidecar %s = %d, want 1", dest, n)
			}
			dest = "destination.inbound." + statAddr(srv, httpPort) + ".HTTP/2.rq_2xx"
			if n := m.server.waitStat(t, dest, 1); n != 1 {
				t.Errorf("server sidecar %s = %d, want 1", dest, n)
			}
			// The scrape port shows the same, with the destination as labels.
			_, prom, err := m.client.get(m.client.plainClient(), "http://127.0.0.1:15090/stats/prometheus")
			want := `envoy_destination_rq_total{destination_protocol="HTTP/1.1",destination_authority="` + hostPort(srv, httpPort) + `",destination_stats_prefix="outbound"} 1`
			if err != nil || !strings.Contains(prom, want) {
				t.Errorf("no %s on the Prometheus port (%v)", want, err)
			}
		})
	}
}

func TestAnHTTPOnlyInboundPortRefusesWhatIsNotHTTP(t *testing.T) {
	m := newMesh(t, "auto", "--http-only-inbound-ports", fmt.Sprintf("%d,%d", httpPort, echoPort))
	srv := m.server.IPv4
	if code, body, err := m.client.get(m.client.plainClient(), "http://"+hostPort(srv, httpPort)+"/"); err != nil || code != 200 {
		t.Fatalf("HTTP to an HTTP-only port: %d %q, %v", code, body, err)
	}
	tests := []struct{ name, msg string }{
		{name: "bytes that are not HTTP are refused", msg: "ping\n"},
		{name: "a client that says nothing is refused after the detection timeout", msg: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := m.client.dial(ctx, "tcp", hostPort(srv, echoPort))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tt.msg)
			if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
				t.Fatalf("read %q, %v; want the connection closed unanswered", b, err)
			}
		})
	}
	if n := m.server.stat(t, "tcp.BlackHoleCluster.downstream_cx_total"); n != 2 {
		t.Errorf("the server sidecar refused %d connections, want 2", n)
	}
}

func TestTheDefaultRetryPolicyRecoversA503AndAGRPCUnavailable(t *testing.T) {
	m := newMesh(t, "auto")
	srv := m.server.IPv4
	before := m.client.stat(t, "cluster.PassthroughCluster.upstream_rq_retry")

	code, body, err := m.client.get(m.client.plainClient(), "http://"+hostPort(srv, httpPort)+"/flaky?id=a")
	if err != nil || code != 200 || body != "attempt 2" {
		t.Fatalf("HTTP: got %d %q, %v; want the second attempt's answer", code, body, err)
	}

	conn, err := grpc.NewClient("passthrough:///"+hostPort(srv, grpcPort),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return m.client.dial(ctx, "tcp", addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "flaky-b"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC: got %v, %v; want SERVING after a retry", resp, err)
	}

	if n := m.client.stat(t, "cluster.PassthroughCluster.upstream_rq_retry") - before; n != 2 {
		t.Errorf("upstream_rq_retry moved by %d, want 2", n)
	}
	dest := "destination.outbound." + statAddr(srv, grpcPort) + ".gRPC.grpc_success"
	if n := m.client.waitStat(t, dest, 1); n != 1 {
		t.Errorf("%s = %d, want 1", dest, n)
	}
}

func TestTCPAndServerFirstProtocolsPassThrough(t *testing.T) {
	m := newMesh(t, "auto")
	srv := m.server.IPv4
	listener := "listener.0.0.0.0_15001.http_inspector."

	t.Run("a TCP echo passes through", func(t *testing.T) {
		got := exchange(t, m.client, hostPort(srv, echoPort), "ping\n", 5)
		if got != "ping\n" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("a banner on a known server-first port skips detection on both sides", func(t *testing.T) {
		client, server := m.client.stats(t), m.server.stats(t)
		if got := exchange(t, m.client, hostPort(srv, smtpPort), "", len(banner)); got != banner {
			t.Fatalf("got %q", got)
		}
		if n := m.client.stat(t, listener+"port_skipped") - client[listener+"port_skipped"]; n != 1 {
			t.Errorf("client sidecar port_skipped moved by %d, want 1", n)
		}
		in := "listener.0.0.0.0_15006.http_inspector."
		if n := m.server.stat(t, in+"port_skipped") - server[in+"port_skipped"]; n != 1 {
			t.Errorf("server sidecar port_skipped moved by %d, want 1", n)
		}
		if n := m.client.stat(t, listener+"fallback_tcp") - client[listener+"fallback_tcp"]; n != 0 {
			t.Errorf("the client sidecar waited for detection (%d fallbacks)", n)
		}
	})

	t.Run("a banner on an unknown port waits once, then never again", func(t *testing.T) {
		before := m.client.stats(t)
		if got := exchange(t, m.client, hostPort(srv, bannerPort), "", len(banner)); got != banner {
			t.Fatalf("first connection got %q", got)
		}
		after := m.client.stats(t)
		if n := after[listener+"fallback_tcp"] - before[listener+"fallback_tcp"]; n != 1 {
			t.Errorf("fallback_tcp moved by %d, want 1", n)
		}
		if n := after[listener+"server_first_learned"] - before[listener+"server_first_learned"]; n != 1 {
			t.Errorf("server_first_learned moved by %d, want 1", n)
		}
		if got := exchange(t, m.client, hostPort(srv, bannerPort), "", len(banner)); got != banner {
			t.Fatalf("second connection got %q", got)
		}
		last := m.client.stats(t)
		if n := last[listener+"server_first_skipped"] - after[listener+"server_first_skipped"]; n != 1 {
			t.Errorf("server_first_skipped moved by %d, want 1", n)
		}
		if n := last[listener+"fallback_tcp"] - after[listener+"fallback_tcp"]; n != 0 {
			t.Errorf("the second connection waited for detection again")
		}
	})

	t.Run("an application listening on 127.0.0.1 only is not exposed", func(t *testing.T) {
		code, body, err := m.client.get(m.client.plainClient(), "http://"+hostPort(srv, loopbackPort)+"/")
		if err != nil || code != 503 {
			t.Fatalf("got %d %q, %v; want the inbound sidecar's 503", code, body, err)
		}
	})
}

func TestWebsocketsAndGRPCStreamsCrossBothSidecars(t *testing.T) {
	m := newMesh(t, "auto")
	srv := m.server.IPv4

	t.Run("a websocket upgrade then carries bytes both ways", func(t *testing.T) {
		handshake := "GET /ws HTTP/1.1\r\nHost: server\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := m.client.dial(ctx, "tcp", hostPort(srv, httpPort))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, handshake)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("handshake: %v, %v", resp, err)
		}
		for _, msg := range []string{"hello", "again"} {
			io.WriteString(c, msg)
			b := make([]byte, len(msg))
			if _, err := io.ReadFull(br, b); err != nil || string(b) != msg {
				t.Fatalf("echo of %q: %q, %v", msg, b, err)
			}
		}
	})

	t.Run("a gRPC server stream delivers every message and its status", func(t *testing.T) {
		conn, err := grpc.NewClient("passthrough:///"+hostPort(srv, grpcPort),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				return m.client.dial(ctx, "tcp", addr)
			}))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stream, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range watchStatuses {
			got, err := stream.Recv()
			if err != nil || got.GetStatus() != want {
				t.Fatalf("message %d: %v, %v; want %v", i, got, err, want)
			}
		}
		if _, err := stream.Recv(); err != io.EOF {
			t.Fatalf("end of stream: %v, want io.EOF (status OK)", err)
		}
	})
}

// exchange connects from the client pod, sends msg and reads n bytes.
func exchange(t *testing.T, p *sidecarPod, addr, msg string, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if msg != "" {
		io.WriteString(c, msg)
	}
	b := make([]byte, n)
	got, err := io.ReadFull(c, b)
	if err != nil {
		t.Fatalf("read %q: %v", b[:got], err)
	}
	return string(b)
}

func TestSIGTERMDrainsThenTheApplicationCannotBypassTheExitedProxy(t *testing.T) {
	m := newMesh(t, "auto")
	url := "http://" + hostPort(m.server.IPv4, httpPort)
	inflight := make(chan error, 1)
	go func() {
		code, body, err := m.client.get(m.client.plainClient(), url+"/slow")
		if err == nil && (code != 200 || body != "slow done") {
			err = fmt.Errorf("got %d %q", code, body)
		}
		inflight <- err
	}()
	// The slow request is in flight once the server application has its
	// connection.
	for deadline := time.Now().Add(10 * time.Second); m.app.httpConns.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow request never reached the server")
		}
	}
	if err := m.client.proxy.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A classic sidecar is signalled with the application, which may still
	// call out while it shuts down: those requests succeed too.
	for i := 0; i < 3; i++ {
		code, body, err := m.client.get(m.client.plainClient(), url+"/")
		if err != nil || code != 200 {
			t.Fatalf("request %d during the drain: %d %q, %v", i, code, body, err)
		}
	}
	if err := <-inflight; err != nil {
		t.Fatalf("the request in flight at SIGTERM: %v", err)
	}
	select {
	case <-m.client.proxy.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the sidecar did not exit after its drain time")
	}
	conns := m.app.httpConns.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := m.client.dial(ctx, "tcp", hostPort(m.server.IPv4, httpPort)); err == nil {
		c.Close()
		t.Fatal("with the sidecar gone, the application's connection succeeded")
	}
	if n := m.app.httpConns.Load(); n != conns {
		t.Errorf("the server saw %d new connections after the sidecar exited", n-conns)
	}
}
