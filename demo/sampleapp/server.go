// Package sampleapp is the application of `outrider demo`: a server speaking
// HTTP/1.1, gRPC and a TCP echo that fails a chosen share of requests on
// purpose and reports who called it, and a client that sends load over the
// three protocols at a steady rate and reports what it saw.
//
// Neither knows about the mesh: they are the unmodified application the
// sidecars wrap. `outrider demo app server|client` runs them in the demo's
// pods.
package sampleapp

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Addrs are the listen addresses by protocol ("host:port"); a protocol
	// without one is not served.
	Addrs map[Protocol]string
	// FailureRate is the share of HTTP and gRPC requests answered with 503
	// or UNAVAILABLE, from 0 (never) to 1 (always).
	FailureRate float64
}

// Server is the sample server. Its methods are safe for concurrent use.
type Server struct {
	cfg   ServerConfig
	addrs map[Protocol]net.Addr
	http  *http.Server
	grpc  *grpc.Server
	tcp   net.Listener
	wg    sync.WaitGroup

	mu     sync.Mutex
	report ServerReport
	echoes map[net.Conn]struct{} // open echo connections, closed by Close; nil once closed
}

// RequestIDHeader is the header a sidecar adds to every HTTP request.
const RequestIDHeader = "x-request-id"

// StartServer listens on every address of cfg and serves until Close.
func StartServer(cfg ServerConfig) (*Server, error) {
	if cfg.FailureRate < 0 || cfg.FailureRate > 1 {
		return nil, fmt.Errorf("sampleapp: failure rate %v: want 0 to 1", cfg.FailureRate)
	}
	s := &Server{cfg: cfg, addrs: map[Protocol]net.Addr{}, echoes: map[net.Conn]struct{}{}, report: ServerReport{
		Protocols: map[Protocol]*ServerCounts{}, Peers: map[string]uint64{},
	}}
	listeners := map[Protocol]net.Listener{}
	for _, p := range Protocols {
		addr, ok := cfg.Addrs[p]
		if !ok {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, fmt.Errorf("sampleapp: %s server: %w", p, err)
		}
		listeners[p] = ln
		s.addrs[p] = ln.Addr()
		s.report.Protocols[p] = &ServerCounts{}
	}
	if ln, ok := listeners[HTTP]; ok {
		s.http = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
		s.goServe(func() { s.http.Serve(ln) })
	}
	if ln, ok := listeners[GRPC]; ok {
		s.grpc = grpc.NewServer()
		healthpb.RegisterHealthServer(s.grpc, health{s})
		s.goServe(func() { s.grpc.Serve(ln) })
	}
	if ln, ok := listeners[TCP]; ok {
		s.tcp = ln
		s.goServe(func() { s.serveEcho(ln) })
	}
	s.report.Ready = true
	return s, nil
}

func (s *Server) goServe(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// Addr is where the server of protocol p listens, or nil.
func (s *Server) Addr(p Protocol) net.Addr { return s.addrs[p] }

// Close stops every server, closing connections still open.
func (s *Server) Close() error {
	if s.http != nil {
		s.http.Close()
	}
	if s.grpc != nil {
		s.grpc.Stop()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	s.mu.Lock()
	for c := range s.echoes {
		c.Close()
	}
	s.echoes = nil
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Report returns a copy of what the server has seen so far.
func (s *Server) Report() ServerReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.report
	r.Protocols = map[Protocol]*ServerCounts{}
	for p, c := range s.report.Protocols {
		cc := *c
		r.Protocols[p] = &cc
	}
	r.Peers = maps.Clone(s.report.Peers)
	return r
}

// record counts a request of protocol p from peer ("host:port") and
// reports whether to fail it.
func (s *Server) record(p Protocol, peer, requestID string) (fail bool) {
	fail = p != TCP && s.cfg.FailureRate > 0 && rand.Float64() < s.cfg.FailureRate
	host, _, err := net.SplitHostPort(peer)
	if err != nil {
		host = "unknown"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.report.Protocols[p]
	c.Requests++
	if fail {
		c.Failed++
	}
	if requestID != "" {
		c.WithRequestID++
		s.report.LastRequestID = requestID
	}
	s.report.Peers[host]++
	return fail
}

// Reply is the body of an HTTP answer: what the server saw of the request.
type Reply struct {
	Peer      string `json:"peer"`
	RequestID string `json:"request_id"`
	Protocol  string `json:"protocol"`
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(RequestIDHeader)
	if s.record(HTTP, r.RemoteAddr, id) {
		http.Error(w, "sampleapp: injected failure", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Reply{Peer: r.RemoteAddr, RequestID: id, Protocol: r.Proto})
}

// health answers grpc.health.v1.Health/Check: SERVING, or UNAVAILABLE when
// failing on purpose.
type health struct{ s *Server }

func (h health) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	var id string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(RequestIDHeader); len(v) > 0 {
			id = v[0]
		}
	}
	var addr string
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	if h.s.record(GRPC, addr, id) {
		return nil, status.Error(codes.Unavailable, "sampleapp: injected failure")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (health) List(context.Context, *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	return nil, status.Error(codes.Unimplemented, "sampleapp: List is not served")
}

func (health) Watch(*healthpb.HealthCheckRequest, healthpb.Health_WatchServer) error {
	return status.Error(codes.Unimplemented, "sampleapp: Watch is not served")
}

// echoIdle bounds how long an echo connection may stay silent.
const echoIdle = 30 * time.Second

func (s *Server) serveEcho(ln net.Listener) {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !s.track(c) {
			c.Close()
			return
		}
		s.record(TCP, c.RemoteAddr().String(), "")
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer s.untrack(c)
			echo(c)
		}()
	}
}

// track notes an open echo connection, or reports that the server closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.echoes == nil {
		return false
	}
	s.echoes[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.echoes, c)
}

// echo copies what c sends back to it until c closes or stays idle.
func echo(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		c.SetDeadline(time.Now().Add(echoIdle))
		n, err := c.Read(buf)
		if n > 0 {
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
