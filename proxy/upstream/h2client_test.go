package upstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
)

// noLeaks fails the test if goroutines started during it are still
// running shortly after it ended (connections closed, streams gone).
func noLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines left over, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// h2Send sends a request through an HTTP/2 pool and reads the whole
// response.
func h2Send(t *testing.T, p *Pool, req *http.Request) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := p.RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestTheHTTP2ClientSpeaksToAnHTTP2Server(t *testing.T) {
	big := make([]byte, 9<<20) // beyond both receive windows' halves
	rand.Read(big)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		method  string
		body    []byte
		header  http.Header
		check   func(t *testing.T, r *http.Response, body []byte)
	}{
		{
			name: "trailers arrive in the response's Trailer after the body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Status")
				io.WriteString(w, "hi")
				w.Header().Set("X-Status", "done")
			},
			method: "GET",
			check: func(t *testing.T, r *http.Response, body []byte) {
				if string(body) != "hi" || r.Trailer.Get("X-Status") != "done" {
					t.Errorf("body %q trailer %v", body, r.Trailer)
				}
			},
		},
		{
			name: "a HEAD response has no body but keeps its Content-Length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "5")
				w.WriteHeader(200)
			},
			method: "HEAD",
			check: func(t *testing.T, r *http.Response, body []byte) {
				if len(body) != 0 || r.ContentLength != 5 {
					t.Errorf("body %q content-length %d", body, r.ContentLength)
				}
			},
		},
		{
			name: "a large request body is sent within the server's windows and echoed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.Copy(w, r.Body)
			},
			method: "POST",
			body:   big,
			check: func(t *testing.T, r *http.Response, body []byte) {
				if !bytes.Equal(body, big) {
					t.Errorf("echoed %d bytes, want the %d sent", len(body), len(big))
				}
			},
		},
		{
			name: "a header block larger than a frame goes out in CONTINUATION frames",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Len", strings.Repeat("b", len(r.Header.Get("X-Big"))))
			},
			method: "GET",
			header: http.Header{"X-Big": {strings.Repeat("a", 40<<10)}},
			check: func(t *testing.T, r *http.Response, body []byte) {
				if len(r.Header.Get("X-Len")) != 40<<10 {
					t.Errorf("the server saw %d bytes of the header, want %d", len(r.Header.Get("X-Len")), 40<<10)
				}
			},
		},
		{
			name: "interim 1xx responses are skipped",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", "</a.css>")
				w.WriteHeader(http.StatusEarlyHints)
				w.WriteHeader(http.StatusCreated)
			},
			method: "GET",
			check: func(t *testing.T, r *http.Response, body []byte) {
				if r.StatusCode != http.StatusCreated {
					t.Errorf("status %d, want 201", r.StatusCode)
				}
			},
		},
		{
			name: "a 304 with the Content-Length of the body it omits is complete",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1234")
				w.WriteHeader(http.StatusNotModified)
			},
			method: "GET",
			check: func(t *testing.T, r *http.Response, body []byte) {
				if r.StatusCode != http.StatusNotModified || len(body) != 0 {
					t.Errorf("status %d body %q", r.StatusCode, body)
				}
			},
		},
		{
			name: "headers are canonical and repeated fields keep every value",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header()["X-Multi"] = []string{"a", "b"}
				w.Header().Set("X-Host", r.Host)
			},
			method: "GET",
			check: func(t *testing.T, r *http.Response, body []byte) {
				if got := r.Header["X-Multi"]; len(got) != 2 || got[1] != "b" || r.Header.Get("X-Host") != "svc.example" {
					t.Errorf("header %v", r.Header)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noLeaks(t)
			addr := h2cServer(t, tt.handler, 100)
			p, _ := newTestPool(t, addr, Options{Protocol: HTTP2, MaxResponseHeaderBytes: 1 << 20}, 1024)
			var body io.Reader
			if tt.body != nil {
				body = bytes.NewReader(tt.body)
			}
			req := newRequest(t, tt.method, "http://"+addr+"/", body)
			req.Host = "svc.example"
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, got, err := h2Send(t, p, req)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, resp, got)
		})
	}
}

func TestTheResponseArrivesWhileTheRequestBodyIsStillBeingSent(t *testing.T) {
	noLeaks(t)
	addr := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		buf := make([]byte, 64)
		for {
			n, err := r.Body.Read(buf)
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
			if err != nil {
				return
			}
		}
	}, 100)
	p, _ := newTestPool(t, addr, Options{Protocol: HTTP2}, 1024)
	pr, pw := io.Pipe()
	resp, err := p.RoundTrip(newRequest(t, "POST", "http://"+addr+"/", pr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	for _, msg := range []string{"ping", "pong", "done"} {
		pw.Write([]byte(msg))
		n, err := io.ReadFull(resp.Body, buf[:len(msg)])
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("echo of %q: %q %v", msg, buf[:n], err)
		}
	}
	pw.Close()
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Errorf("after the request ended: %q %v, want EOF", rest, err)
	}
}

func TestAnAbandonedRequestIsResetAtTheServer(t *testing.T) {
	tests := []struct {
		name    string
		abandon func(cancel context.CancelFunc, resp *http.Response)
	}{
		{name: "its context is cancelled", abandon: func(cancel context.CancelFunc, _ *http.Response) { cancel() }},
		{name: "its response body is closed early", abandon: func(_ context.CancelFunc, resp *http.Response) { resp.Body.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noLeaks(t)
			gone := make(chan struct{})
			addr := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				close(gone)
			}, 100)
			p, _ := newTestPool(t, addr, Options{Protocol: HTTP2}, 1024)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
			resp, err := p.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			tt.abandon(cancel, resp)
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Fatal("the server's stream was not reset")
			}
			resp.Body.Close()
			if p.Host.RqActive.Load() != 0 {
				t.Errorf("rq_active %d after the request ended", p.Host.RqActive.Load())
			}
		})
	}
}

func TestAGRPCUnaryCallCarriesItsStatusInTheTrailers(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	p, _ := newTestPool(t, ln.Addr().String(), Options{Protocol: HTTP2}, 1024)

	msg, _ := proto.Marshal(&healthpb.HealthCheckRequest{})
	frame := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	for i := range 3 { // sequential calls share the connection
		req := newRequest(t, "POST", "http://"+ln.Addr().String()+"/grpc.health.v1.Health/Check", bytes.NewReader(append(frame, msg...)))
		req.Header = http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}}
		resp, body, err := h2Send(t, p, req)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		var reply healthpb.HealthCheckResponse
		if len(body) < 5 || proto.Unmarshal(body[5:], &reply) != nil || reply.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("call %d: reply %x", i, body)
		}
		if got := resp.Trailer.Get("Grpc-Status"); got != "0" {
			t.Errorf("call %d: grpc-status %q, want 0 (trailers %v)", i, got, resp.Trailer)
		}
	}
}

func TestAnIdleHTTP2ConnectionIsClosedAfterTheIdleTimeout(t *testing.T) {
	noLeaks(t)
	addr := h2cServer(t, ok, 100)
	p, st := newTestPool(t, addr, Options{Protocol: HTTP2, IdleTimeout: 50 * time.Millisecond}, 1024)
	if _, err := roundTrip(t, p, "/"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.CxActive.Value() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("cx_active %d long after the idle timeout", st.CxActive.Value())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := roundTrip(t, p, "/"); err != nil || st.CxTotal.Value() != 2 {
		t.Errorf("after the idle close: %v, cx_total %d, want a second connection", err, st.CxTotal.Value())
	}
}

func TestMaxRequestsPerConnectionRetiresAnHTTP2Connection(t *testing.T) {
	noLeaks(t)
	addr := h2cServer(t, ok, 100)
	p, st := newTestPool(t, addr, Options{Protocol: HTTP2, MaxRequestsPerConn: 2}, 1024)
	for i := range 5 {
		if code, err := roundTrip(t, p, "/"); err != nil || code != 200 {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
	}
	if got := st.CxTotal.Value(); got != 3 {
		t.Errorf("5 requests at 2 per connection opened %d connections, want 3", got)
	}
}
