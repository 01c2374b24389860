package tls_test

import (
	"context"
	cryptotls "crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/outrider-mesh/outrider/internal/proctest"
	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/server"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/transport/tls/tlstest"
)

const (
	frontendID = "spiffe://cluster.local/ns/default/sa/frontend"
	backendID  = "spiffe://cluster.local/ns/default/sa/backend"
)

// mesh is the PKI of a test mesh, written to files the proxies read.
type mesh struct {
	t   *testing.T
	dir string
	ca  *tlstest.CA
}

func newMesh(t *testing.T) *mesh {
	t.Helper()
	ca, err := tlstest.NewCA("mesh CA")
	if err != nil {
		t.Fatal(err)
	}
	m := &mesh{t: t, dir: t.TempDir(), ca: ca}
	m.write("ca.pem", ca.CertPEM)
	return m
}

func (m *mesh) issue(o tlstest.Options) *tlstest.Leaf {
	m.t.Helper()
	l, err := m.ca.Issue(o)
	if err != nil {
		m.t.Fatal(err)
	}
	return l
}

func (m *mesh) write(name string, data []byte) string {
	m.t.Helper()
	p := filepath.Join(m.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		m.t.Fatal(err)
	}
	return p
}

// identity writes a workload certificate and key, returning their paths.
func (m *mesh) identity(name, spiffeID string) (certPath, keyPath string) {
	l := m.issue(tlstest.Options{CommonName: name, URIs: []string{spiffeID}})
	return m.write(name+".pem", l.CertPEM), m.write(name+".key", l.KeyPEM)
}

// clientConfig is a TLS client presenting leaf (nil: no certificate).
func (m *mesh) clientConfig(leaf *tlstest.Leaf) *cryptotls.Config {
	cfg := &cryptotls.Config{RootCAs: m.ca.Pool(), ServerName: "backend.default.svc", InsecureSkipVerify: true}
	if leaf != nil {
		cfg.Certificates = []cryptotls.Certificate{leaf.TLS()}
	}
	return cfg
}

// proxy is one running Outrider, assembled as the binary assembles it.
type proxy struct {
	s   *server.Server
	log *proctest.Output
}

func startProxy(t *testing.T, yaml string) *proxy {
	t.Helper()
	b, err := config.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	lb := &proctest.Output{}
	s := server.New(server.Options{
		Load:      func() (*bootstrapv3.Bootstrap, error) { return b, nil },
		DrainTime: time.Second,
		Log:       slog.New(slog.NewTextHandler(lb, nil)),
	})
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Close)
	return &proxy{s: s, log: lb}
}

func (p *proxy) addr(t *testing.T, listener string) string {
	t.Helper()
	ap, ok := p.s.ListenerAddr(listener)
	if !ok {
		t.Fatalf("no listener %q", listener)
	}
	return ap.String()
}

// counter sums the counters whose Envoy name ends with suffix (listener
// stats are named after the kernel's port).
func (p *proxy) counter(suffix string) uint64 {
	var v uint64
	p.s.Stats().Each(func(c *stats.Counter) {
		if strings.HasSuffix(c.Name, suffix) {
			v += c.Value()
		}
	}, nil, nil)
	return v
}

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// appServer is the application behind proxy B: it says which protocol
// reached it.
func appServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/forwarded-proto" {
			io.WriteString(w, r.Header.Get("X-Forwarded-Proto"))
			return
		}
		fmt.Fprintf(w, "app saw %s %s", r.Method, r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// grpcServer serves the interop TestService's FullDuplexCall as an echo,
// over h2c.
func grpcServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	testpb.RegisterTestServiceServer(gs, echoService{})
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

type echoService struct {
	testpb.UnimplementedTestServiceServer
}

func (echoService) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
}

// tlsEchoServer is a TLS server outside the mesh presenting leaf and
// echoing what it reads, for TLS passthrough.
func tlsEchoServer(t *testing.T, leaf *tlstest.Leaf) string {
	t.Helper()
	ln, err := cryptotls.Listen("tcp", "127.0.0.1:0", &cryptotls.Config{Certificates: []cryptotls.Certificate{leaf.TLS()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func endpoint(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("{endpoint: {address: {socket_address: {address: %s, port_value: %s}}}}", host, port)
}
