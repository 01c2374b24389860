package http1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every blocking step of a test, so a bug fails the test
// instead of hanging it.
const testTimeout = 10 * time.Second

// listen starts a loopback listener whose connections are handled by
// handle, each on its own goroutine; cleanup closes the listener and the
// connections and waits for the handlers.
func listen(t testing.TB, handle func(c net.Conn)) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(testTimeout))
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr()
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
