package http1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pathHandler answers with the request path, after reading the body.
var pathHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Write([]byte(r.URL.Path + ":" + string(b)))
})

func TestServerAnswersPipelinedRequestsInOrder(t *testing.T) {
	ts := serve(t, pathHandler, nil)
	rc := ts.dial(t)
	io.WriteString(rc, "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"+
		"POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"+
		"POST /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"+
		"GET /four HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	for _, want := range []string{"/one:", "/two:abc", "/three:de", "/four:"} {
		_, body := readResponse(t, rc.br, "GET")
		if body != want {
			t.Errorf("response %q, want %q", body, want)
		}
	}
	assertClosed(t, rc)
}

func TestServerConnectionPersistence(t *testing.T) {
	tests := []struct {
		name      string
		cfg       *ServerConfig
		handler   http.HandlerFunc
		request   string
		wantConn  string // Connection field of the response
		wantClose bool
	}{
		{
			name: "HTTP/1.1 stays open by default", request: "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		},
		{
			name: "Connection: close from the client closes after the response", request: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			wantConn: "close", wantClose: true,
		},
		{
			name: "Connection: close from the handler closes after the response", request: "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			handler:  func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Connection", "close") },
			wantConn: "close", wantClose: true,
		},
		{
			name: "a draining server closes after the response", request: "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			cfg: &ServerConfig{Draining: func() bool { return true }}, wantConn: "close", wantClose: true,
		},
		{
			name: "HTTP/1.0 closes by default", request: "GET / HTTP/1.0\r\n\r\n",
			cfg: &ServerConfig{AcceptHTTP10: true}, wantConn: "close", wantClose: true,
		},
		{
			name: "HTTP/1.0 with keep-alive stays open", request: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			cfg: &ServerConfig{AcceptHTTP10: true}, wantConn: "keep-alive",
		},
		{
			name: "HTTP/1.0 keep-alive ends when the body has no length", request: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			cfg: &ServerConfig{AcceptHTTP10: true},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
			},
			wantConn: "close", wantClose: true,
		},
		{
			name: "a response truncated short of its Content-Length closes", request: "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "10")
				w.Write([]byte("short"))
			},
			wantClose: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			if h == nil {
				h = func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) }
			}
			ts := serve(t, h, tt.cfg)
			rc := ts.dial(t)
			io.WriteString(rc, tt.request)
			resp, err := http.ReadResponse(rc.br, nil)
			if err != nil {
				t.Fatal(err)
			}
			// ReadResponse turns "Connection: close" into resp.Close.
			if got := resp.Header.Get("Connection"); got != tt.wantConn && !(tt.wantConn == "close" && resp.Close) {
				t.Errorf("Connection = %q, want %q", got, tt.wantConn)
			}
			if tt.wantClose {
				io.ReadAll(resp.Body)
				assertClosed(t, rc)
				return
			}
			io.ReadAll(resp.Body)
			io.WriteString(rc, tt.request) // the connection serves another request
			if resp, _ := readResponse(t, rc.br, "GET"); resp.StatusCode != 200 {
				t.Errorf("second request: status %d", resp.StatusCode)
			}
		})
	}
}

func TestServerExpectContinue(t *testing.T) {
	const head = "PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
	t.Run("sends 100 Continue when the handler reads the body", func(t *testing.T) {
		ts := serve(t, pathHandler, nil)
		rc := ts.dial(t)
		io.WriteString(rc, head)
		interim, err := http.ReadResponse(rc.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if interim.StatusCode != 100 {
			t.Fatalf("first response %d, want 100", interim.StatusCode)
		}
		io.WriteString(rc, "data")
		if _, body := readResponse(t, rc.br, "PUT"); body != "/up:data" {
			t.Errorf("body %q", body)
		}
	})
	t.Run("answers without 100 Continue and closes when the handler ignores the body", func(t *testing.T) {
		ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
		}), nil)
		resp, _, rc := ts.exchange(t, "PUT", head)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("status %d, want 403", resp.StatusCode)
		}
		assertClosed(t, rc)
	})
	t.Run("sends nothing interim to an HTTP/1.0 client", func(t *testing.T) {
		ts := serve(t, pathHandler, &ServerConfig{AcceptHTTP10: true})
		resp, body, _ := ts.exchange(t, "PUT", "PUT /up HTTP/1.0\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\ndata")
		if resp.StatusCode != 200 || body != "/up:data" {
			t.Errorf("got %d %q, want the final response", resp.StatusCode, body)
		}
	})
}

func TestServerWritesInformationalResponses(t *testing.T) {
	ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Write([]byte("final"))
	}), nil)
	resp, _, rc := ts.exchange(t, "GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp.StatusCode != 103 || resp.Header.Get("Link") == "" {
		t.Fatalf("first response %d with Link %q, want 103 with the Link", resp.StatusCode, resp.Header.Get("Link"))
	}
	if resp, body := readResponse(t, rc.br, "GET"); resp.StatusCode != 200 || body != "final" {
		t.Errorf("final response %d %q", resp.StatusCode, body)
	}
}

// echoUpgrade switches to an echo protocol: after 101 every byte comes back.
func echoUpgrade(before bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !before {
			w.Header().Set("Upgrade", "echo")
			w.Header().Set("Connection", "Upgrade")
			w.WriteHeader(http.StatusSwitchingProtocols)
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer c.Close()
		if before {
			brw.WriteString("HTTP/1.1 200 Connection Established\r\n\r\n")
			brw.Flush()
		}
		io.Copy(c, brw)
	}
}

func TestServerHijacksForUpgrades(t *testing.T) {
	const upgrade = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"
	tests := []struct {
		name     string
		before   bool
		cfg      *ServerConfig
		request  string
		status   int
		wantHead string
	}{
		{name: "after the handler writes 101", request: upgrade, status: 101, wantHead: "Connection: Upgrade\r\n"},
		{name: "after 101 while draining, keeping Connection: Upgrade", request: upgrade, status: 101,
			cfg: &ServerConfig{Draining: func() bool { return true }}, wantHead: "Connection: Upgrade\r\n"},
		{name: "before anything is written, as a CONNECT tunnel does", before: true, request: "CONNECT b.test:443 HTTP/1.1\r\nHost: b.test:443\r\n\r\n", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := serve(t, echoUpgrade(tt.before), tt.cfg)
			rc := ts.dial(t)
			// The first bytes of the new protocol may follow the request at once.
			io.WriteString(rc, tt.request+"early ")
			head, err := readHead(rc.br)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(head, "HTTP/1.1 "+strconv.Itoa(tt.status)+" ") || !strings.Contains(head, tt.wantHead) {
				t.Fatalf("head %q, want status %d and %q", head, tt.status, tt.wantHead)
			}
			io.WriteString(rc, "ping")
			got := make([]byte, len("early ping"))
			if _, err := io.ReadFull(rc.br, got); err != nil {
				t.Fatal(err)
			}
			if string(got) != "early ping" {
				t.Errorf("echo %q, want %q", got, "early ping")
			}
			rc.Close()
			if err := <-ts.served; err != nil {
				t.Errorf("ServeConn returned %v after a hijack, want nil", err)
			}
		})
	}
}

func TestServerCancelsTheRequestContextWhenTheClientLeaves(t *testing.T) {
	done := make(chan error, 1)
	started := make(chan struct{})
	ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			done <- r.Context().Err()
		case <-time.After(testTimeout):
			done <- errors.New("context not cancelled")
		}
	}), nil)
	rc := ts.dial(t)
	io.WriteString(rc, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started
	rc.Close()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("handler saw %v, want context.Canceled", err)
	}
}

func TestServerShutdown(t *testing.T) {
	t.Run("closes an idle connection at once", func(t *testing.T) {
		ts := serve(t, pathHandler, nil)
		resp, _, rc := ts.exchange(t, "GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
		ts.cancel()
		assertClosed(t, rc)
		if err := <-ts.served; err != nil {
			t.Errorf("ServeConn returned %v, want nil", err)
		}
	})
	t.Run("finishes the request in flight with Connection: close", func(t *testing.T) {
		release := make(chan struct{})
		started := make(chan struct{})
		var cancelled atomic.Bool
		ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
			cancelled.Store(r.Context().Err() != nil)
			w.Write([]byte("done"))
		}), nil)
		rc := ts.dial(t)
		io.WriteString(rc, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		<-started
		ts.cancel()
		close(release)
		resp, body := readResponse(t, rc.br, "GET")
		if body != "done" || !resp.Close {
			t.Errorf("got %q with Close %v, want the full response with Connection: close", body, resp.Close)
		}
		if cancelled.Load() {
			t.Error("the request's context was cancelled by the shutdown")
		}
		assertClosed(t, rc)
	})
}

func TestServerClosesIdleConnections(t *testing.T) {
	ts := serve(t, pathHandler, &ServerConfig{IdleTimeout: 30 * time.Millisecond})
	resp, _, rc := ts.exchange(t, "GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	assertClosed(t, rc) // nothing but the close: no 408 for an idle connection
	if err := <-ts.served; err != nil {
		t.Errorf("ServeConn returned %v, want nil", err)
	}
}

func TestServerPreservesHeaderCase(t *testing.T) {
	seen := make(chan HeaderCase, 1)
	ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- HeaderCaseFrom(r.Context())
		w.Header().Set("X-Resp", "1")
		w.Header().Set("Content-Length", "2")
		SetHeaderCase(w, HeaderCase{"X-Resp": "x-RESP", "Content-Length": "content-length"})
		w.Write([]byte("ok"))
	}), &ServerConfig{PreserveCase: true})
	rc := ts.dial(t)
	io.WriteString(rc, "GET / HTTP/1.1\r\nhost: a\r\nx-CUSTOM: 1\r\nAccept: */*\r\n\r\n")
	head, err := readHead(rc.br)
	if err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 200 OK\r\nx-RESP: 1\r\ncontent-length: 2\r\n\r\n"
	if head != want {
		t.Errorf("response head\n%q\nwant\n%q", head, want)
	}
	hc := <-seen
	if hc["X-Custom"] != "x-CUSTOM" || hc["Host"] != "host" || len(hc) != 2 {
		t.Errorf("recorded case %v, want X-Custom and Host only", hc)
	}
}

func TestServerSurvivesAHandlerPanic(t *testing.T) {
	ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}), nil)
	rc := ts.dial(t)
	io.WriteString(rc, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, err := bufio.NewReader(rc).ReadByte(); err == nil {
		t.Error("got a response from a panicking handler")
	}
	if err := <-ts.served; err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("ServeConn returned %v, want the panic", err)
	}
}

func TestServerRefusesWritesAfterTheHandlerReturned(t *testing.T) {
	// The second request's handler uses the first request's writer: both
	// run on the connection's goroutine, one after the other.
	var first http.ResponseWriter
	ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			first = w
			w.Write([]byte("first"))
			return
		}
		var problems []string
		if _, err := first.Write([]byte("late")); err == nil {
			problems = append(problems, "write")
		}
		first.(http.Flusher).Flush()
		if _, _, err := first.(http.Hijacker).Hijack(); err == nil {
			problems = append(problems, "hijack")
		}
		w.Write([]byte("accepted:" + strings.Join(problems, ",")))
	}), nil)
	rc := ts.dial(t)
	io.WriteString(rc, "GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, body := readResponse(t, rc.br, "GET"); body != "first" {
		t.Fatalf("first response %q", body)
	}
	if _, body := readResponse(t, rc.br, "GET"); body != "accepted:" {
		t.Errorf("the stale writer %s, want every use refused", body)
	}
}
