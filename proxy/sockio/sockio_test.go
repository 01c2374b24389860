package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

const testTimeout = 10 * time.Second

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	for _, x := range []net.Conn{c, s} {
		x.SetDeadline(time.Now().Add(testTimeout))
		t.Cleanup(func() { x.Close() })
	}
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestAConnReadsAndWritesWhatATCPConnWould(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{name: "a few bytes", size: 5},
		{name: "more than the socket buffers hold, so that writes wait for room", size: 16 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := pair(t)
			sc := New(s)
			if sc == nil {
				t.Fatal("New refused a TCP connection")
			}
			msg := bytes.Repeat([]byte("0123456789abcdef"), tt.size/16+1)[:tt.size]
			werr := make(chan error, 1)
			go func() {
				n, err := sc.Write(msg)
				if err == nil && n != len(msg) {
					err = io.ErrShortWrite
				}
				s.CloseWrite()
				werr <- err
			}()
			got, err := io.ReadAll(New(c))
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if err := <-werr; err != nil {
				t.Fatalf("writing: %v", err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("read %d bytes, want the %d written", len(got), len(msg))
			}
		})
	}
}

func TestAConnReportsTheErrorsATCPConnWould(t *testing.T) {
	tests := []struct {
		name    string
		provoke func(c, s *net.TCPConn)
		want    error
		timeout bool
	}{
		{name: "the peer closing is io.EOF", provoke: func(c, s *net.TCPConn) { s.Close() }, want: io.EOF},
		{name: "a deadline that passes is a timeout", provoke: func(c, s *net.TCPConn) {
			c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		}, want: os.ErrDeadlineExceeded, timeout: true},
		{name: "closing the connection is net.ErrClosed", provoke: func(c, s *net.TCPConn) {
			time.AfterFunc(10*time.Millisecond, func() { c.Close() })
		}, want: net.ErrClosed},
		{name: "a reset from the peer is ECONNRESET", provoke: func(c, s *net.TCPConn) {
			s.SetLinger(0)
			s.Close()
		}, want: syscall.ECONNRESET},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := pair(t)
			tt.provoke(c, s)
			_, err := New(c).Read(make([]byte, 64))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read error %v, want %v", err, tt.want)
			}
			var ne net.Error
			if got := errors.As(err, &ne) && ne.Timeout(); got != tt.timeout {
				t.Errorf("Timeout() = %v, want %v", got, tt.timeout)
			}
			if tt.want != io.EOF {
				var oe *net.OpError
				if !errors.As(err, &oe) || oe.Op != "read" {
					t.Errorf("error %#v is not a read *net.OpError as net.TCPConn returns", err)
				}
			}
		})
	}
}

func TestReaderAndWriterUseAConnOnlyForTCPConnections(t *testing.T) {
	c, _ := pair(t)
	if _, ok := Reader(c).(*Conn); !ok {
		t.Error("Reader did not use a Conn for a TCP connection")
	}
	if _, ok := Writer(c).(*Conn); !ok {
		t.Error("Writer did not use a Conn for a TCP connection")
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if Reader(p1) != io.Reader(p1) || Writer(p1) != io.Writer(p1) {
		t.Error("a connection that is not TCP was wrapped")
	}
}
