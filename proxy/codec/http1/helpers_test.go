package http1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// testTimeout bounds every blocking step of a test, so a bug fails the test
// instead of hanging it.
const testTimeout = 10 * time.Second

// listen starts a loopback server (looptest.Serve) whose connections
// are handled by handle, each with the test's deadline.
func listen(t testing.TB, handle func(c net.Conn)) net.Addr {
	t.Helper()
	addr := looptest.Serve(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(testTimeout))
		handle(c)
	})
	return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr))
}

func dial(t testing.TB, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// readHead reads a message head (through the blank line) from br.
func readHead(br *bufio.Reader) (string, error) {
	var b bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\r\n" {
			return b.String(), nil
		}
	}
}

// releases records ClientConfig.Release calls.
type releases struct {
	mu    sync.Mutex
	calls []bool
	ch    chan bool
}

func newReleases() *releases { return &releases{ch: make(chan bool, 16)} }

func (r *releases) release(reusable bool) {
	r.mu.Lock()
	r.calls = append(r.calls, reusable)
	r.mu.Unlock()
	r.ch <- reusable
}

// wait returns the next Release call's argument.
func (r *releases) wait(t testing.TB) bool {
	t.Helper()
	select {
	case v := <-r.ch:
		return v
	case <-time.After(testTimeout):
		t.Fatal("Release was not called")
		return false
	}
}

// count returns the number of Release calls so far.
func (r *releases) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// readAll reads r to the end, failing the test on error.
func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

// testServer runs ServeConn on every connection of a loopback listener.
type testServer struct {
	addr net.Addr
	// served receives ServeConn's return value for each connection.
	served chan error
	// rejected receives the status of every OnProtocolError call.
	rejected chan int
	cancel   context.CancelFunc
}

func serve(t testing.TB, h http.Handler, cfg *ServerConfig) *testServer {
	t.Helper()
	var c ServerConfig
	if cfg != nil {
		c = *cfg
	}
	ts := &testServer{served: make(chan error, 64), rejected: make(chan int, 64)}
	user := c.OnProtocolError
	c.OnProtocolError = func(status int, err error) {
		if user != nil {
			user(status, err)
		}
		select {
		case ts.rejected <- status:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	t.Cleanup(cancel)
	ts.addr = listen(t, func(conn net.Conn) {
		conn.SetDeadline(time.Time{})
		err := ServeConn(ctx, conn, nil, h, &c)
		select {
		case ts.served <- err:
		default:
		}
	})
	return ts
}

// client returns a net/http client whose connections all go to ts.
func (ts *testServer) client(t testing.TB) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", ts.addr.String())
		},
		ExpectContinueTimeout: testTimeout,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

// rawConn is a client connection read through a buffer.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func (ts *testServer) dial(t testing.TB) *rawConn {
	c := dial(t, ts.addr)
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// exchange writes input on a new connection and reads one response (to a
// request with method) and its body. The connection is returned for what
// follows.
func (ts *testServer) exchange(t testing.TB, method, input string) (*http.Response, string, *rawConn) {
	t.Helper()
	rc := ts.dial(t)
	if _, err := io.WriteString(rc, input); err != nil {
		t.Fatal(err)
	}
	resp, body := readResponse(t, rc.br, method)
	return resp, body, rc
}

// readResponse reads one response and its body from br.
func readResponse(t testing.TB, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	return resp, string(b)
}

// assertClosed checks that the server closed the connection with nothing
// more to read, then closes the client's side.
func assertClosed(t testing.TB, rc *rawConn) {
	t.Helper()
	defer rc.Close()
	rest, err := io.ReadAll(rc.br)
	if err != nil {
		t.Errorf("connection not closed by the server: %v", err)
	}
	if len(rest) > 0 {
		t.Errorf("unexpected bytes after the response: %q", rest)
	}
}
