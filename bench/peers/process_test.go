package peers_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"fortio.org/fortio/fgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outrider-mesh/outrider/bench/backend"
	"github.com/outrider-mesh/outrider/bench/peers"
	"github.com/outrider-mesh/outrider/bench/procstat"
)

// buildOutrider builds the proxy under test once per test binary.
func buildOutrider(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "outrider-proxy")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/outrider-mesh/outrider/cmd/outrider-proxy").CombinedOutput()
	if err != nil {
		t.Fatalf("build outrider-proxy: %v\n%s", err, out)
	}
	return bin
}

func TestEachPeerForwardsEveryProtocolToTheBackend(t *testing.T) {
	b, err := backend.Start(backend.Options{BodySize: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	up := peers.Upstreams{}
	for _, a := range []struct {
		to   *peers.Addr
		from net.Addr
	}{{&up.HTTP, b.HTTP}, {&up.GRPC, b.GRPC}, {&up.TCP, b.TCP}} {
		if *a.to, err = peers.ParseAddr(a.from.String()); err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range peers.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			o := peers.Options{Kind: kind, CPU: -1, Config: peers.Config{Upstreams: up, Dir: t.TempDir()}}
			if kind == peers.Outrider {
				o.Binary = buildOutrider(t)
			} else if _, err := peers.LookPath(string(kind)); err != nil {
				t.Skip(err)
			}
			p, err := peers.Start(o)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			at := func(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

			t.Run("HTTP/1.1", func(t *testing.T) {
				getBody(t, &http.Client{Timeout: 5 * time.Second}, "http://"+at(p.Ports.HTTP1)+"/")
			})
			t.Run("h2c", func(t *testing.T) {
				tr := &http.Transport{Protocols: new(http.Protocols)}
				tr.Protocols.SetUnencryptedHTTP2(true)
				getBody(t, &http.Client{Transport: tr, Timeout: 5 * time.Second}, "http://"+at(p.Ports.H2)+"/")
			})
			t.Run("gRPC", func(t *testing.T) {
				conn, err := grpc.NewClient(at(p.Ports.GRPC), grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				reply, err := fgrpc.NewPingServerClient(conn).Ping(ctx, &fgrpc.PingMessage{Seq: 7})
				if err != nil {
					t.Fatal(err)
				}
				if reply.Seq != 7 || len(reply.Payload) != 100 {
					t.Errorf("reply seq %d with %d payload bytes, want 7 and 100", reply.Seq, len(reply.Payload))
				}
			})
			t.Run("TCP", func(t *testing.T) {
				before := b.Received()
				c, err := net.DialTimeout("tcp", at(p.Ports.TCP), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Write(make([]byte, 5000)); err != nil {
					t.Fatal(err)
				}
				c.Close()
				deadline := time.Now().Add(5 * time.Second)
				for b.Received()-before < 5000 {
					if time.Now().After(deadline) {
						t.Fatalf("the backend got %d of 5000 bytes", b.Received()-before)
					}
					time.Sleep(5 * time.Millisecond)
				}
			})
			t.Run("its memory can be read", func(t *testing.T) {
				m, err := procstat.ReadMemory(p.PID)
				if err != nil {
					t.Fatal(err)
				}
				if m.RSS == 0 || m.Peak < m.RSS || m.Anon == 0 || m.File == 0 {
					t.Errorf("memory %+v", m)
				}
				if p.Kind != peers.Outrider {
					return
				}
				heap, err := p.GoHeap()
				if err != nil {
					t.Fatal(err)
				}
				if heap == 0 || heap > m.RSS {
					t.Errorf("Go heap %d, RSS %d", heap, m.RSS)
				}
			})
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Exited():
			default:
				t.Error("Stop returned before the process exited")
			}
		})
	}
}

func getBody(t *testing.T, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || len(body) != 100 {
		t.Fatalf("status %d with %d body bytes, want 200 and 100", resp.StatusCode, len(body))
	}
}
