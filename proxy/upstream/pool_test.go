package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/stats"
)

func newTestPool(t *testing.T, addr string, opts Options, maxConns uint32) (*Pool, *Stats) {
	t.Helper()
	st := NewStats(stats.ClusterScope(stats.NewStore(), "test"))
	d := &Dialer{Timeout: time.Second, Stats: st, Conns: NewLimit(maxConns, nil, nil)}
	p := NewPool(netip.MustParseAddrPort(addr), d, &opts, Limits{Pending: NewLimit(1024, nil, nil), Requests: NewLimit(1024, nil, nil)}, nil)
	t.Cleanup(p.Drain)
	return p, st
}

func roundTrip(t *testing.T, p *Pool, path string) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+p.Addr().String()+path, nil)
	resp, err := p.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func h2cServer(t *testing.T, h http.HandlerFunc, maxStreams uint32) string {
	srv := httptest.NewUnstartedServer(h2c.NewHandler(h, &http2.Server{MaxConcurrentStreams: maxStreams}))
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func ok(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }

func TestHTTP2MultiplexesConcurrentRequestsOnOneConnection(t *testing.T) {
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(20)
	addr := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
	}, 100)
	p, st := newTestPool(t, addr, Options{Protocol: HTTP2}, 1024)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, err := roundTrip(t, p, "/"); err != nil || code != 200 {
				t.Errorf("got %d %v", code, err)
			}
		}()
	}
	arrived.Wait()
	if got := st.CxTotal.Value(); got != 1 {
		t.Errorf("20 concurrent requests opened %d connections, want 1", got)
	}
	if got := p.Host.RqActive.Load(); got != 20 {
		t.Errorf("rq_active = %d, want 20", got)
	}
	close(release)
	wg.Wait()
	if got := p.Host.RqActive.Load(); got != 0 {
		t.Errorf("rq_active after = %d, want 0", got)
	}
}

func TestHTTP2OpensAnotherConnectionWhenStreamsRunOut(t *testing.T) {
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(6)
	addr := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
	}, 2)
	p, st := newTestPool(t, addr, Options{Protocol: HTTP2}, 1024)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			roundTrip(t, p, "/")
		}()
	}
	arrived.Wait()
	if got := st.CxTotal.Value(); got < 3 {
		t.Errorf("6 requests with 2 streams per connection opened %d connections, want at least 3", got)
	}
	close(release)
	wg.Wait()
}

func TestHTTP2RecoversFromGOAWAY(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	serve := func(ln net.Listener) *http.Server {
		var protos http.Protocols
		protos.SetUnencryptedHTTP2(true)
		srv := &http.Server{Handler: http.HandlerFunc(ok), Protocols: &protos}
		go srv.Serve(ln)
		return srv
	}
	first := serve(ln)
	p, st := newTestPool(t, addr, Options{Protocol: HTTP2}, 1024)
	if code, err := roundTrip(t, p, "/"); err != nil || code != 200 {
		t.Fatalf("first request: %d %v", code, err)
	}
	// A graceful shutdown sends GOAWAY; a new server takes the port.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first.Shutdown(ctx)
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	second := serve(ln2)
	defer second.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, err := roundTrip(t, p, "/")
		if err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request succeeded after GOAWAY: %d %v", code, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.CxTotal.Value() != 2 {
		t.Errorf("upstream_cx_total = %d, want 2", st.CxTotal.Value())
	}
}

func TestHTTP1ReusesConnections(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(ok))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	tests := []struct {
		name        string
		maxRequests uint32
		wantConns   uint64
	}{
		{name: "keep-alive carries every request on one connection", wantConns: 1},
		{name: "max_requests_per_connection retires connections", maxRequests: 2, wantConns: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, st := newTestPool(t, addr, Options{Protocol: HTTP1, MaxRequestsPerConn: tt.maxRequests}, 1024)
			for range 5 {
				if code, err := roundTrip(t, p, "/"); err != nil || code != 200 {
					t.Fatalf("got %d %v", code, err)
				}
			}
			if got := st.CxTotal.Value(); got != tt.wantConns {
				t.Errorf("5 requests used %d connections, want %d", got, tt.wantConns)
			}
		})
	}
}

func TestHTTP1IdleConnectionsTimeOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(ok))
	t.Cleanup(srv.Close)
	p, st := newTestPool(t, srv.Listener.Addr().String(), Options{Protocol: HTTP1, IdleTimeout: 50 * time.Millisecond}, 1024)
	if _, err := roundTrip(t, p, "/"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.CxIdleTimeout.Value() != 1 || st.CxActive.Value() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("idle_timeout %d, cx_active %d", st.CxIdleTimeout.Value(), st.CxActive.Value())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHTTP1WaitsForAConnectionAtMaxConnections(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	t.Cleanup(srv.Close)
	p, st := newTestPool(t, srv.Listener.Addr().String(), Options{Protocol: HTTP1}, 1)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, err := roundTrip(t, p, "/"); err != nil || code != 200 {
				t.Errorf("got %d %v", code, err)
			}
		}()
	}
	<-entered
	deadline := time.Now().Add(5 * time.Second)
	for st.RqPendingActive.Value() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the second request never waited")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if st.CxTotal.Value() != 1 || st.CxOverflow.Value() == 0 {
		t.Errorf("cx_total %d (want 1), cx_overflow %d (want > 0)", st.CxTotal.Value(), st.CxOverflow.Value())
	}
}

func TestDrainedPoolRefusesNewRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(ok))
	t.Cleanup(srv.Close)
	p, st := newTestPool(t, srv.Listener.Addr().String(), Options{Protocol: HTTP1}, 1024)
	roundTrip(t, p, "/")
	p.Drain()
	if st.CxActive.Value() != 0 {
		t.Errorf("cx_active = %d after drain, want 0", st.CxActive.Value())
	}
	if _, err := roundTrip(t, p, "/"); !errors.Is(err, failure.ErrNoHealthyUpstream) {
		t.Errorf("err = %v, want no healthy upstream", err)
	}
}

func TestUpstreamBindConfigSetsTheSourceAddress(t *testing.T) {
	seen := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.RemoteAddr
	}))
	t.Cleanup(srv.Close)
	st := NewStats(stats.ClusterScope(stats.NewStore(), "bind"))
	d := &Dialer{Stats: st, Source: netip.MustParseAddrPort("127.0.0.6:0")}
	p := NewPool(netip.MustParseAddrPort(srv.Listener.Addr().String()), d, &Options{}, Limits{}, nil)
	t.Cleanup(p.Drain)
	if _, err := roundTrip(t, p, "/"); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; netip.MustParseAddrPort(got).Addr().String() != "127.0.0.6" {
		t.Errorf("upstream saw %s, want 127.0.0.6", got)
	}
}

func TestHTTP1ResendsOnceWhenAnIdleConnectionWasClosedByTheServer(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(ok))
	srv.Config.IdleTimeout = 50 * time.Millisecond // the server closes idle connections
	srv.Start()
	t.Cleanup(srv.Close)
	// The pool keeps connections much longer than the server does.
	p, st := newTestPool(t, srv.Listener.Addr().String(), Options{Protocol: HTTP1, IdleTimeout: time.Hour}, 1024)
	if code, err := roundTrip(t, p, "/"); err != nil || code != 200 {
		t.Fatalf("first: %d %v", code, err)
	}
	time.Sleep(200 * time.Millisecond)
	if code, err := roundTrip(t, p, "/"); err != nil || code != 200 {
		t.Fatalf("after the server closed the idle connection: %d %v", code, err)
	}
	if st.CxTotal.Value() != 2 {
		t.Errorf("upstream_cx_total = %d, want 2", st.CxTotal.Value())
	}
}

func TestHTTP2ReplacesAConnectionTheServerClosedForIdleness(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: http.HandlerFunc(ok), Protocols: &protos, IdleTimeout: 50 * time.Millisecond}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p, st := newTestPool(t, ln.Addr().String(), Options{Protocol: HTTP2, IdleTimeout: time.Hour}, 1024)
	for i := range 3 {
		if code, err := roundTrip(t, p, "/"); err != nil || code != 200 {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	if st.CxTotal.Value() != 3 {
		t.Errorf("upstream_cx_total = %d, want 3 (one per idle period)", st.CxTotal.Value())
	}
}
