package inspector

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// clientHello captures the first flight of a real crypto/tls client.
func clientHello(t *testing.T, sni string, alpn []string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		defer a.Close()
		c := tls.Client(a, &tls.Config{ServerName: sni, NextProtos: alpn, InsecureSkipVerify: true})
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Handshake() // fails once we close the pipe
	}()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := readFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := readFull(b, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestInspectTLSReadsSNIAndALPNWithoutConsuming(t *testing.T) {
	hello := clientHello(t, "api.example.com", []string{"h2", "http/1.1"})
	r := bufio.NewReaderSize(bytes.NewReader(hello), 4096)
	res, r2, err := InspectTLS(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsTLS || res.ServerName != "api.example.com" || !slices.Equal(res.ALPN, []string{"h2", "http/1.1"}) {
		t.Fatalf("got %+v", res)
	}
	if r2.Buffered() != len(hello) {
		t.Fatalf("buffered %d bytes, want all %d still unread", r2.Buffered(), len(hello))
	}
}

func TestInspectTLSGrowsTheReaderForALargeClientHello(t *testing.T) {
	long := strings.Repeat("a", 60) + ".example.com"
	var alpn []string
	for i := 0; i < 200; i++ {
		alpn = append(alpn, strings.Repeat("p", 20)+string(rune('a'+i%26)))
	}
	hello := clientHello(t, long, alpn)
	if len(hello) <= 4096 {
		t.Fatalf("hello is only %d bytes; the test needs one larger than the reader", len(hello))
	}
	server, client := net.Pipe()
	defer server.Close()
	go func() {
		client.Write(hello)
		client.Write([]byte("after"))
		client.Close()
	}()
	r := bufio.NewReaderSize(server, 4096)
	res, r2, err := InspectTLS(r, server)
	if err != nil {
		t.Fatal(err)
	}
	if res.ServerName != long {
		t.Fatalf("ServerName = %q", res.ServerName)
	}
	all := new(bytes.Buffer)
	all.ReadFrom(r2)
	if !bytes.Equal(all.Bytes(), append(hello, "after"...)) {
		t.Fatalf("replayed %d bytes, want the hello and what followed", all.Len())
	}
}

func TestInspectTLSSaysPlainTextIsNotTLS(t *testing.T) {
	r := bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\n\r\n"))
	res, _, err := InspectTLS(r, nil)
	if err != nil || res.IsTLS {
		t.Fatalf("got %+v, %v", res, err)
	}
}

func TestInspectHTTP(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{name: "an HTTP/1.1 request line", input: "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", want: "http/1.1"},
		{name: "an HTTP/1.0 request line", input: "POST / HTTP/1.0\r\n\r\n", want: "http/1.0"},
		{name: "the h2c preface", input: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", want: "h2c"},
		{name: "binary bytes", input: "\x16\x03\x01\x00", want: ""},
		{name: "an unknown protocol version", input: "GET / HTTP/3.0\r\n", want: ""},
		{name: "a line that is not a request", input: "hello world\r\n", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := InspectHTTP(bufio.NewReader(strings.NewReader(tt.input)))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIsH2PrefaceDecidesOnAShortRequest(t *testing.T) {
	// Fewer bytes than the preface: must not wait for more.
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	go client.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	h2, err := IsH2Preface(bufio.NewReader(server))
	if err != nil || h2 {
		t.Fatalf("got %v, %v", h2, err)
	}
}

func FuzzParseClientHello(f *testing.F) {
	f.Add([]byte{1, 0, 0, 4, 3, 3, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		parseClientHello(b)
		InspectTLS(bufio.NewReader(bytes.NewReader(append([]byte{0x16, 3, 1, byte(len(b) >> 8), byte(len(b))}, b...))), bytes.NewReader(nil))
	})
}
