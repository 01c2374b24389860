// Package looptest runs loopback TCP servers for tests: a listener whose
// connections each get a handler goroutine, all of it gone when the test
// ends (listener and connections closed, handlers waited for), so that a
// test leaks neither sockets nor goroutines.
package looptest

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"
)

// Serve listens on 127.0.0.1 and runs handle for every connection, each on
// a goroutine of its own; a connection is closed when its handler returns.
// At the end of the test the listener and every open connection are closed
// and Serve waits for the handlers. It returns the listener's address.
func Serve(tb testing.TB, handle func(c net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					c.Close()
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
				}()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// Dial connects to addr with a deadline of 10 s on every read and write;
// the connection closes at the end of the test.
func Dial(tb testing.TB, addr string) (net.Conn, *bufio.Reader) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}
