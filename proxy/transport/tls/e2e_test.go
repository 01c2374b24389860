package tls_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/outrider-mesh/outrider/internal/looptest"
	"github.com/outrider-mesh/outrider/proxy/transport/tls/tlstest"
)

// pair is an app-side client's view of two sidecars: proxy A originates
// mTLS as frontendID, proxy B terminates it, checks the caller is
// frontendID and forwards to the app or the gRPC server.
type pair struct {
	m          *mesh
	a, b       *proxy
	aLog, bLog string
	secret     *tlstest.SecretDir // B's certificate, mounted as a Kubernetes Secret
	frontend   *tlstest.Leaf      // a certificate with A's identity, for direct clients
	external   *tlstest.Leaf      // the out-of-mesh TLS server's certificate
}

func startPair(t *testing.T) *pair {
	t.Helper()
	m := newMesh(t)
	p := &pair{m: m, aLog: filepath.Join(m.dir, "a.log"), bLog: filepath.Join(m.dir, "b.log"),
		secret: &tlstest.SecretDir{Dir: t.TempDir()}}
	bLeaf := m.issue(tlstest.Options{CommonName: "backend-1", URIs: []string{backendID}})
	if err := p.secret.Update(map[string][]byte{"tls.crt": bLeaf.CertPEM, "tls.key": bLeaf.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	p.frontend = m.issue(tlstest.Options{CommonName: "frontend", URIs: []string{frontendID}})
	p.external = m.issue(tlstest.Options{CommonName: "external", DNSNames: []string{"passthrough.example.com"}})
	p.b = startProxy(t, inboundConfig(filepath.Join(m.dir, "ca.pem"), sdsSecretFile(t, p.secret.Dir), p.bLog,
		appServer(t), grpcServer(t), tlsEchoServer(t, p.external)))
	certPath, keyPath := m.identity("frontend-a", frontendID)
	p.a = startProxy(t, outboundConfig(filepath.Join(m.dir, "ca.pem"), certPath, keyPath, p.aLog, p.b.addr(t, "main")))
	return p
}

func TestTwoProxiesSpeakMutualTLS(t *testing.T) {
	p := startPair(t)
	base := "http://" + p.a.addr(t, "main")
	h2c := looptest.H2CClient(t)
	h1 := &http.Client{Timeout: 10 * time.Second}

	for _, tt := range []struct {
		name   string
		client *http.Client
		path   string
		proto  string
	}{
		{name: "an HTTP/1.1 client reaches the app through both proxies", client: h1, path: "/via-h1", proto: "HTTP/1.1"},
		{name: "an HTTP/2 client reaches the app through both proxies", client: h2c, path: "/via-h2", proto: "HTTP/2.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.client.Post(base+tt.path, "text/plain", strings.NewReader("hello"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "app saw POST "+tt.path || resp.Proto != tt.proto {
				t.Fatalf("%s %d %q, want %s 200 from the app", resp.Proto, resp.StatusCode, body, tt.proto)
			}
		})
	}

	t.Run("a gRPC bidirectional stream crosses both proxies", func(t *testing.T) {
		stream, done := openStream(t, p.a.addr(t, "main"))
		defer done()
		for i := range 5 {
			echo(t, stream, fmt.Sprintf("message %d", i))
		}
		finish(t, stream)
	})

	t.Run("proxy B logs the caller's SPIFFE ID and the TLS version", func(t *testing.T) {
		eventually(t, "B access log", func() bool { return strings.Count(readFile(p.bLog), "\n") >= 3 })
		log := readFile(p.bLog)
		for _, want := range []string{
			frontendID + " TLSv1.2 HTTP/2 /via-h1",
			frontendID + " TLSv1.2 HTTP/2 /via-h2",
			frontendID + " TLSv1.2 HTTP/2 /grpc.testing.TestService/FullDuplexCall",
		} {
			if !strings.Contains(log, want) {
				t.Errorf("B's access log lacks %q:\n%s", want, log)
			}
		}
		eventually(t, "A's access log", func() bool { return strings.Contains(readFile(p.aLog), "b "+backendID+" TLSv1.2 -") })
	})

	t.Run("a request that arrived over TLS is marked x-forwarded-proto https", func(t *testing.T) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.m.clientConfig(p.frontend)}}
		resp, err := client.Get("https://" + p.b.addr(t, "main") + "/forwarded-proto")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "https" {
			t.Fatalf("the app saw x-forwarded-proto %q, want https", body)
		}
	})

	t.Run("both sides count their handshakes", func(t *testing.T) {
		if v := p.b.counter(".ssl.handshake"); v < 1 {
			t.Errorf("B listener ssl.handshake = %d", v)
		}
		if v := p.a.counter("cluster.b.ssl.handshake"); v < 1 {
			t.Errorf("A cluster.b.ssl.handshake = %d", v)
		}
		if v := p.a.counter("cluster.b.ssl.versions.TLSv1.2"); v < 1 {
			t.Errorf("A cluster.b.ssl.versions.TLSv1.2 = %d", v)
		}
	})

	t.Run("proxy A refuses a server that is not who the cluster expects", func(t *testing.T) {
		resp, err := h1.Get(base + "/wrong-identity")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", resp.StatusCode)
		}
		if v := p.a.counter("cluster.impostor-check.ssl.fail_verify_san"); v < 1 {
			t.Errorf("cluster.impostor-check.ssl.fail_verify_san = %d, want at least 1", v)
		}
		if v := p.a.counter("cluster.impostor-check.upstream_cx_connect_fail"); v < 1 {
			t.Errorf("cluster.impostor-check.upstream_cx_connect_fail = %d, want at least 1", v)
		}
		eventually(t, "A's log of the refusal", func() bool {
			return strings.Contains(readFile(p.aLog), "impostor-check - - UF TLS_error:|CERTIFICATE_VERIFY_FAILED:peer_certificate_SANs")
		})
	})
}

// openStream starts a FullDuplexCall through the proxy at addr.
func openStream(t *testing.T, addr string) (testpb.TestService_FullDuplexCallClient, func()) {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	stream, err := testpb.NewTestServiceClient(cc).FullDuplexCall(ctx)
	if err != nil {
		cancel()
		cc.Close()
		t.Fatal(err)
	}
	return stream, func() {
		stream.CloseSend()
		cancel()
		cc.Close()
	}
}

func echo(t *testing.T, stream testpb.TestService_FullDuplexCallClient, msg string) {
	t.Helper()
	if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte(msg)}}); err != nil {
		t.Fatalf("send %q: %v", msg, err)
	}
	got, err := stream.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	if string(got.GetPayload().GetBody()) != msg {
		t.Fatalf("echo %q, want %q", got.GetPayload().GetBody(), msg)
	}
}

// finish half-closes the stream and expects the server's end with an OK
// status.
func finish(t *testing.T, stream testpb.TestService_FullDuplexCallClient) {
	t.Helper()
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("end of stream: %v, want io.EOF (status OK)", err)
	}
}
