package tls_test

import (
	cryptotls "crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/proxy/transport/tls/tlstest"
)

func TestProxyRefusesBadClientsAndKeepsServingOthers(t *testing.T) {
	p := startPair(t)
	bAddr := p.b.addr(t, "main")
	other, err := tlstest.NewCA("another mesh")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Issue(tlstest.Options{URIs: []string{frontendID}})
	if err != nil {
		t.Fatal(err)
	}
	intruder := p.m.issue(tlstest.Options{URIs: []string{"spiffe://cluster.local/ns/default/sa/intruder"}})
	expired := p.m.issue(tlstest.Options{URIs: []string{frontendID},
		NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})

	// A stream opened before the bad clients arrive must live through them.
	stream, done := openStream(t, p.a.addr(t, "main"))
	defer done()
	echo(t, stream, "before")

	tests := []struct {
		name string
		// connect misbehaves against B's mTLS port.
		connect func(t *testing.T) error
		stat    string // B's listener counter that must move
		logs    string // words in B's log line
	}{
		{
			name:    "a client without a certificate",
			connect: func(t *testing.T) error { return tlsExchange(bAddr, p.m.clientConfig(nil)) },
			stat:    ".ssl.fail_verify_no_cert", logs: "peer did not present a certificate",
		},
		{
			name:    "a client with a certificate from another CA",
			connect: func(t *testing.T) error { return tlsExchange(bAddr, p.m.clientConfig(foreign)) },
			stat:    ".ssl.fail_verify_error", logs: "is not signed by a trusted CA",
		},
		{
			name:    "a client with the wrong SPIFFE ID",
			connect: func(t *testing.T) error { return tlsExchange(bAddr, p.m.clientConfig(intruder)) },
			stat:    ".ssl.fail_verify_san", logs: "sa/intruder] match none of: URI exact " + frontendID,
		},
		{
			name:    "a client with an expired certificate",
			connect: func(t *testing.T) error { return tlsExchange(bAddr, p.m.clientConfig(expired)) },
			stat:    ".ssl.fail_verify_error", logs: "peer certificate expired at",
		},
		{
			name: "a client speaking plain text to the TLS port",
			connect: func(t *testing.T) error {
				return rawExchange(bAddr, []byte("GET / HTTP/1.1\r\nHost: backend\r\n\r\n"))
			},
			stat: ".ssl.connection_error", logs: "peer did not speak TLS",
		},
		{
			name:    "a client that connects and says nothing",
			connect: func(t *testing.T) error { return rawExchange(bAddr, nil) },
			stat:    ".ssl.connection_error", logs: "handshake did not complete in time",
		},
		{
			name: "a client that stops halfway through its ClientHello",
			connect: func(t *testing.T) error {
				return rawExchange(bAddr, []byte{0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0xfc, 0x03, 0x03})
			},
			stat: ".ssl.connection_error", logs: "handshake did not complete in time",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused while others are served", func(t *testing.T) {
			before := p.b.counter(tt.stat)
			logged := strings.Count(p.b.log.String(), tt.logs)
			if err := tt.connect(t); err == nil {
				t.Fatal("the exchange succeeded, want a refusal")
			}
			eventually(t, tt.stat, func() bool { return p.b.counter(tt.stat) > before })
			eventually(t, "a log line saying "+tt.logs, func() bool {
				return strings.Count(p.b.log.String(), tt.logs) > logged
			})
			// Everyone else is still served, on old and new connections.
			echo(t, stream, "during "+tt.name)
			resp, err := http.Get("http://" + p.a.addr(t, "main") + "/after")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("a good request got %d after the refusal", resp.StatusCode)
			}
		})
	}
	finish(t, stream)
	if !strings.Contains(p.b.log.String(), `msg="listener: TLS handshake failed, connection closed" listener=main filter_chain=mtls`) {
		t.Errorf("log lines do not name the listener and chain:\n%s", p.b.log.String())
	}
}

// tlsExchange completes a TLS handshake with cfg and one request; it
// returns the first failure.
func tlsExchange(addr string, cfg *cryptotls.Config) error {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	c := cryptotls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return err
	}
	// With TLS 1.3 the server judges the certificate after the client's
	// handshake is done: the refusal arrives on the first read.
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: backend\r\n\r\n")); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 1))
	return err
}

// rawExchange sends data (possibly nothing) in plain text and waits for
// the proxy to close the connection. A connection left open is a failure
// of the test, not a refusal.
func rawExchange(addr string, data []byte) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if len(data) > 0 {
		if _, err := c.Write(data); err != nil {
			return err
		}
	}
	_, err = io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil // still open after 5s: not refused
	}
	return errors.New("closed by the proxy")
}
