package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// The application of the server pod, served in-process from sockets that
// live in the pod's namespace.
const (
	httpPort     = 8080 // HTTP/1.1 and h2c
	loopbackPort = 8081 // HTTP on 127.0.0.1 only
	grpcPort     = 9090
	echoPort     = 9000 // TCP echo
	smtpPort     = 25   // a server-first banner on a port known to be opaque
	bannerPort   = 7777 // a server-first banner on a port nobody told the proxy about
	banner       = "220 ready\r\n"
)

// app counts what the server application saw.
type app struct {
	httpConns atomic.Int64 // HTTP connections accepted on httpPort

	mu     sync.Mutex
	flaky  map[string]int // /flaky?id=…: 503 on the first attempt of each id
	failed map[string]int // gRPC services answered UNAVAILABLE so far
}

// serveApp starts every server of the application in pod.
func serveApp(t *testing.T, pod *sidecarPod) *app {
	t.Helper()
	a := &app{flaky: map[string]int{}, failed: map[string]int{}}
	listen := func(addr string) net.Listener {
		ln, err := pod.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "peer=%s proto=%s request_id=%s", r.RemoteAddr, r.Proto, r.Header.Get("X-Request-Id"))
	})
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.flaky[r.URL.Query().Get("id")]++
		n := a.flaky[r.URL.Query().Get("id")]
		a.mu.Unlock()
		if n == 1 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "attempt %d", n)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		// A websocket handshake, then an echo of the raw stream: enough
		// to see the upgrade cross both sidecars.
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		c, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		io.Copy(c, rw)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		io.WriteString(w, "slow done")
	})
	hs := &http.Server{Handler: h2c.NewHandler(mux, &http2.Server{}), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			a.httpConns.Add(1)
		}
	}}
	go hs.Serve(listen(fmt.Sprintf(":%d", httpPort)))
	t.Cleanup(func() { hs.Close() })
	ls := &http.Server{Handler: mux}
	go ls.Serve(listen(fmt.Sprintf("127.0.0.1:%d", loopbackPort)))
	t.Cleanup(func() { ls.Close() })

	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, &flakyHealth{app: a})
	go gs.Serve(listen(fmt.Sprintf(":%d", grpcPort)))
	t.Cleanup(gs.Stop)

	accept(listen(fmt.Sprintf(":%d", echoPort)), func(c net.Conn) { io.Copy(c, c) })
	greet := func(c net.Conn) { io.WriteString(c, banner); io.Copy(c, c) }
	accept(listen(fmt.Sprintf(":%d", smtpPort)), greet)
	accept(listen(fmt.Sprintf(":%d", bannerPort)), greet)
	return a
}

// accept runs fn for every connection until ln is closed.
func accept(ln net.Listener, fn func(net.Conn)) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				fn(c)
			}()
		}
	}()
}

// flakyHealth answers SERVING, except that a service named "flaky-…"
// fails its first check with UNAVAILABLE.
type flakyHealth struct {
	healthpb.UnimplementedHealthServer
	app *app
}

func (h *flakyHealth) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if len(req.GetService()) > 6 && req.GetService()[:6] == "flaky-" {
		h.app.mu.Lock()
		h.app.failed[req.GetService()]++
		n := h.app.failed[req.GetService()]
		h.app.mu.Unlock()
		if n == 1 {
			return nil, status.Error(codes.Unavailable, "warming up")
		}
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// Watch streams three statuses and ends: a server stream whose messages
// and trailers must all cross both sidecars.
func (h *flakyHealth) Watch(_ *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer) error {
	for _, st := range watchStatuses {
		if err := s.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
			return err
		}
	}
	return nil
}

var watchStatuses = []healthpb.HealthCheckResponse_ServingStatus{
	healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_SERVING,
}
