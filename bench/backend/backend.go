// Package backend is the application the benchmarks put behind each proxy:
// it answers every HTTP/1.1, h2c and gRPC unary request with the same fixed
// body, and swallows opaque TCP streams while counting their bytes. It does
// as little as a server can, so that the time measured is the path's.
package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"fortio.org/fortio/fgrpc"
	"google.golang.org/grpc"
)

// DefaultBodySize is the response body when Options.BodySize is zero.
const DefaultBodySize = 1024

// Options configure a Backend.
type Options struct {
	// BodySize is the size of every response body (HTTP and gRPC); zero
	// means DefaultBodySize.
	BodySize int
	// Host is the address to listen on; empty means 127.0.0.1.
	Host string
	// Listen, if not nil, opens the listeners instead of net.Listen (a
	// pod's Listen puts the backend in that pod's network namespace).
	Listen func(network, address string) (net.Listener, error)
}

// Backend is a running set of servers, one listener per protocol.
type Backend struct {
	// HTTP serves HTTP/1.1 and h2c (HTTP/2 with prior knowledge).
	HTTP net.Addr
	// GRPC serves fortio's ping service (fgrpc.PingServer) over h2c.
	GRPC net.Addr
	// TCP reads and discards whatever it is sent.
	TCP net.Addr

	received atomic.Int64
	http     *http.Server
	grpc     *grpc.Server
	tcp      net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// Start listens on three ephemeral ports and serves until Close.
func Start(o Options) (*Backend, error) {
	if o.BodySize == 0 {
		o.BodySize = DefaultBodySize
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Listen == nil {
		o.Listen = net.Listen
	}
	listen := func() (net.Listener, error) { return o.Listen("tcp", net.JoinHostPort(o.Host, "0")) }
	body := make([]byte, o.BodySize)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}

	b := &Backend{conns: map[net.Conn]struct{}{}}
	var lns []net.Listener
	for range 3 {
		ln, err := listen()
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("backend: %w", err)
		}
		lns = append(lns, ln)
	}
	b.HTTP, b.GRPC, b.TCP = lns[0].Addr(), lns[1].Addr(), lns[2].Addr()

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	b.http = &http.Server{
		Handler:           fixedBody(body),
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
	}
	b.grpc = grpc.NewServer()
	fgrpc.RegisterPingServerServer(b.grpc, &ping{payload: string(body)})
	b.tcp = lns[2]

	b.wg.Add(3)
	go func() { defer b.wg.Done(); _ = b.http.Serve(lns[0]) }()
	go func() { defer b.wg.Done(); _ = b.grpc.Serve(lns[1]) }()
	go func() { defer b.wg.Done(); b.serveSink() }()
	return b, nil
}

// Received is the number of bytes the TCP sink has read so far.
func (b *Backend) Received() int64 { return b.received.Load() }

// Close stops every server, closes every connection and waits for the
// serving goroutines.
func (b *Backend) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.http.Shutdown(ctx); err != nil {
		b.http.Close()
	}
	b.grpc.Stop()
	b.tcp.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

// fixedBody answers every request with body; the request body, if any, is
// drained first so that keep-alive connections stay usable.
func fixedBody(body []byte) http.Handler {
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h["Content-Type"] = []string{"application/octet-stream"}
		h["Content-Length"] = []string{length}
		_, _ = w.Write(body)
	})
}

// ping is fortio's ping service answering with a fixed payload, whatever
// the request carried.
type ping struct {
	payload string
}

func (p *ping) Ping(_ context.Context, in *fgrpc.PingMessage) (*fgrpc.PingMessage, error) {
	return &fgrpc.PingMessage{Seq: in.Seq, Ts: in.Ts, Payload: p.payload}, nil
}

func (b *Backend) serveSink() {
	for {
		c, err := b.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		b.mu.Lock()
		b.conns[c] = struct{}{}
		b.mu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				b.received.Add(int64(n))
				if err != nil {
					break
				}
			}
			c.Close()
			b.mu.Lock()
			delete(b.conns, c)
			b.mu.Unlock()
		}()
	}
}
