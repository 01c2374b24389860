package looptest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

func TestServeAnswersEachConnectionOnItsOwnHandler(t *testing.T) {
	addr := Serve(t, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "echo "+line)
	})
	for _, msg := range []string{"one\n", "two\n"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, msg)
		got, err := io.ReadAll(c) // the server closes after its handler
		c.Close()
		if err != nil || string(got) != "echo "+msg {
			t.Fatalf("got %q, %v", got, err)
		}
	}
}

func TestServeClosesOpenConnectionsAndWaitsForHandlersAtTheEnd(t *testing.T) {
	before := runtime.NumGoroutine()
	started, ended := make(chan struct{}), make(chan struct{})
	var addr string
	t.Run("a handler blocked reading", func(t *testing.T) {
		addr = Serve(t, func(c net.Conn) {
			defer close(ended)
			close(started)
			io.Copy(io.Discard, c) // returns when Serve's cleanup closes c
		})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		<-started
	})
	select {
	case <-ended:
	default:
		t.Fatal("the handler was still running after the cleanup")
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("the listener still accepts after the cleanup")
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("%d goroutines before, %d after", before, after)
	}
}

func TestH2CClientSpeaksHTTP2WithPriorKnowledge(t *testing.T) {
	srv := &http2.Server{}
	addr := Serve(t, func(c net.Conn) {
		srv.ServeConn(c, &http2.ServeConnOpts{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.Proto+" "+r.Header.Get("Accept-Encoding"))
		})})
	})
	resp, err := H2CClient(t).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "HTTP/2.0 " {
		t.Fatalf("the server saw %q, want HTTP/2.0 and no Accept-Encoding", body)
	}
}
