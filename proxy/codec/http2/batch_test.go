package http2

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// loopbackPair is a real TCP connection on loopback: the client side,
// which counts its write calls, and the server side.
func loopbackPair(t *testing.T) (*countingConn, net.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	addr := looptest.Serve(t, func(c net.Conn) {
		accepted <- c
		<-t.Context().Done() // the server side stays open until the test ends
	})
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := <-accepted
	return &countingConn{Conn: c}, s
}

type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return buf
}

func TestBatchedConnSendsTheWritesOfOneSchedulingRoundInOneWrite(t *testing.T) {
	// With one P the flusher runs only once this goroutine blocks, as on
	// a proxy busy with other streams.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	raw, peer := loopbackPair(t)
	b := NewBatchedConn(raw)
	frames := []string{"headers|", "data|", "trailers|"}
	for _, f := range frames {
		if _, err := b.Write([]byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	got := readN(t, peer, len("headers|data|trailers|"))
	if string(got) != "headers|data|trailers|" {
		t.Errorf("peer read %q", got)
	}
	if n := raw.writes.Load(); n != 1 {
		t.Errorf("%d writes to the connection for three frames written together, want 1", n)
	}

	// A later round is another write, in order after the first.
	if _, err := b.Write([]byte("next")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, peer, 4); string(got) != "next" {
		t.Errorf("peer read %q, want next", got)
	}
	if n := raw.writes.Load(); n != 2 {
		t.Errorf("%d writes to the connection after a second round, want 2", n)
	}
}

func TestBatchedConnKeepsTheOrderOfLargeWrites(t *testing.T) {
	raw, peer := loopbackPair(t)
	b := NewBatchedConn(raw)
	// More than batchLimit, so that the writer waits for the flusher.
	var want bytes.Buffer
	for i := range 64 {
		want.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 16<<10))
	}
	done := make(chan error, 1)
	go func() {
		data := want.Bytes()
		for len(data) > 0 {
			if _, err := b.Write(data[:16<<10]); err != nil {
				done <- err
				return
			}
			data = data[16<<10:]
		}
		done <- nil
	}()
	got := readN(t, peer, want.Len())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Error("the peer read the bytes out of order")
	}
}

func TestBatchedConnCloseSendsWhatWasWrittenFirst(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	raw, peer := loopbackPair(t)
	b := NewBatchedConn(raw)
	if _, err := b.Write([]byte("goaway")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(peer)
	if err != nil || string(got) != "goaway" {
		t.Errorf("peer read %q, %v; want goaway then EOF", got, err)
	}
	if _, err := b.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: %v, want net.ErrClosed", err)
	}
}

func TestBatchedConnCloseReturnsWhenThePeerDoesNotRead(t *testing.T) {
	raw, _ := loopbackPair(t)
	// Small socket buffers: the megabyte below cannot fit, so the flusher
	// blocks in write(2) and the writer waits for it.
	raw.Conn.(*net.TCPConn).SetWriteBuffer(4096)
	b := NewBatchedConn(raw)
	progress := make(chan int, 16)
	wrote := make(chan error, 1)
	go func() {
		chunk := make([]byte, batchLimit)
		for i := range 16 {
			if _, err := b.Write(chunk); err != nil {
				wrote <- err
				return
			}
			progress <- i
		}
		wrote <- nil
	}()
	// The second write returns only once the flusher has taken the
	// first batch, which it cannot finish writing.
	<-progress
	<-progress
	// Close is bounded by closeFlushTimeout; the test's own deadline
	// catches a hang.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err == nil {
		t.Error("a megabyte was written to a peer that reads nothing")
	}
}

func TestBatchedConnReportsAWriteErrorToTheNextWrite(t *testing.T) {
	raw, _ := loopbackPair(t)
	b := NewBatchedConn(raw)
	raw.Conn.Close() // the writes below fail in the flusher
	var err error
	for range 1000 {
		if _, err = b.Write([]byte("x")); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err == nil {
		t.Fatal("writes to a closed connection kept succeeding")
	}
}
