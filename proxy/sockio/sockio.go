// Package sockio reads and writes TCP sockets with raw system calls.
//
// net.TCPConn's Read and Write enter the scheduler's system-call state
// (runtime.entersyscall): each call may hand its P to another thread when
// the call lasts, and each wakes the runtime's monitor thread (sysmon)
// when it sleeps, which it does whenever the process has been idle for a
// moment. A proxy at a moderate rate (1000 requests a second) is idle
// between requests, so every request paid a futex wake-up, sysmon's
// polling while the request ran and thread hand-offs: about a fifth of
// its CPU, more than the proxy's own work. A socket is non-blocking, so
// its reads and writes return at once (EAGAIN when they would block): they
// are made here with syscall.RawSyscall inside the connection's
// syscall.RawConn, which waits for readiness through the runtime's
// network poller exactly as net.TCPConn does, deadlines and Close
// included. Errors are the ones net.TCPConn returns (*net.OpError with
// Op "read" or "write", io.EOF at the end).
package sockio

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Conn reads and writes one TCP connection. Reads must not run
// concurrently with each other, nor writes with each other (a read and a
// write may); bufio readers and writers over it satisfy that.
type Conn struct {
	rc           syscall.RawConn
	laddr, raddr net.Addr
	r, w         op
	// readFn and writeFn are the methods bound once, so that a call
	// allocates no closure.
	readFn, writeFn func(fd uintptr) bool
}

// op is the state of the read or the write in progress.
type op struct {
	p     []byte
	n     int
	errno syscall.Errno
}

// New returns a Conn for c, or nil when c is not a TCP connection (the
// caller then uses c itself).
func New(c net.Conn) *Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &Conn{rc: rc, laddr: tc.LocalAddr(), raddr: tc.RemoteAddr()}
	s.readFn, s.writeFn = s.read, s.write
	return s
}

// Reader returns r reading through a Conn when r is a TCP connection,
// else r itself.
func Reader(r io.Reader) io.Reader {
	if c, ok := r.(net.Conn); ok {
		if s := New(c); s != nil {
			return s
		}
	}
	return r
}

// Writer returns w writing through a Conn when w is a TCP connection,
// else w itself.
func Writer(w io.Writer) io.Writer {
	if c, ok := w.(net.Conn); ok {
		if s := New(c); s != nil {
			return s
		}
	}
	return w
}

func (s *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.r = op{p: p}
	err := s.rc.Read(s.readFn)
	n, errno := s.r.n, s.r.errno
	s.r.p = nil
	switch {
	case err != nil:
		return n, s.opError("read", unwrapRaw(err))
	case errno != 0:
		return n, s.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s *Conn) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&s.r.p[0])), uintptr(len(s.r.p)))
		switch e {
		case 0:
			s.r.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait for readiness in the poller
		}
		s.r.errno = e
		return true
	}
}

func (s *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.w = op{p: p}
	err := s.rc.Write(s.writeFn)
	n, errno := s.w.n, s.w.errno
	s.w.p = nil
	switch {
	case err != nil:
		return n, s.opError("write", unwrapRaw(err))
	case errno != 0:
		return n, s.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
}

// write writes all of s.w.p, as net.TCPConn.Write does.
func (s *Conn) write(fd uintptr) bool {
	for s.w.n < len(s.w.p) {
		rest := s.w.p[s.w.n:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)))
		switch e {
		case 0:
			s.w.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // wait for room in the poller
		default:
			s.w.errno = e
			return true
		}
	}
	return true
}

func (s *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: s.laddr, Addr: s.raddr, Err: err}
}

// unwrapRaw takes the poller's error (a deadline, a closed connection) out
// of the *net.OpError that RawConn reports it in, so that it is wrapped
// as net.TCPConn would.
func unwrapRaw(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}
