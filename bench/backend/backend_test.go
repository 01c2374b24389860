package backend_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/bench/backend"
)

func TestEveryResponseCarriesTheFixedBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		want int
	}{
		{name: "the default is 1 KiB", size: 0, want: backend.DefaultBodySize},
		{name: "a chosen size", size: 10, want: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := backend.Start(backend.Options{BodySize: tc.size})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			c := &http.Client{Timeout: 5 * time.Second}
			resp, err := c.Post("http://"+b.HTTP.String()+"/any/path", "text/plain", strings.NewReader("ignored"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || len(body) != tc.want || resp.ContentLength != int64(tc.want) {
				t.Errorf("status %d, %d bytes, Content-Length %d; want 200 and %d", resp.StatusCode, len(body), resp.ContentLength, tc.want)
			}
		})
	}
}

func TestCloseEndsOpenSinkConnections(t *testing.T) {
	b, err := backend.Start(backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", b.TCP.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.Received() < 5 {
		if time.Now().After(deadline) {
			t.Fatal("the sink never counted the bytes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { b.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on an open sink connection")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("the connection is still open after Close")
	}
}
