package http1

import (
	"bytes"
	"io"
	"net"
	"sync"
	"time"
)

// memConn is an in-memory connection for fuzzing and benchmarks: reads
// come from next (one call per Read, so the codec sees realistic read
// boundaries) and never block; writes are kept or discarded.
type memConn struct {
	next func(p []byte) (int, error)
	mu   sync.Mutex
	out  *bytes.Buffer // nil discards
}

var memAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

func (c *memConn) Read(p []byte) (int, error) { return c.next(p) }

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.out != nil {
		c.out.Write(p)
	}
	return len(p), nil
}

func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return memAddr }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// readerNext reads from r, then reports io.EOF.
func readerNext(r io.Reader) func([]byte) (int, error) { return r.Read }

// repeatNext yields msg n times, one copy per Read, then io.EOF.
func repeatNext(msg []byte, n int) func([]byte) (int, error) {
	var off int
	return func(p []byte) (int, error) {
		if n == 0 {
			return 0, io.EOF
		}
		m := copy(p, msg[off:])
		off += m
		if off == len(msg) {
			off = 0
			n--
		}
		return m, nil
	}
}
