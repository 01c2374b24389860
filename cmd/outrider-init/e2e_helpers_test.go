package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/outrider-mesh/outrider/localpod"
)

// The test binary also plays the processes of a pod: outrider-init itself,
// a forwarder standing in for the proxy, and a client app running as some
// user. roleEnv selects the role; the arguments follow.
const roleEnv = "OUTRIDER_INIT_E2E_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "init":
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	case "forward":
		os.Exit(forwardMain(os.Args[1], os.Args[2]))
	case "dial":
		os.Exit(dialMain(os.Args[1]))
	}
	code := m.Run()
	if helperPath != "" {
		os.RemoveAll(filepath.Dir(helperPath))
	}
	os.Exit(code)
}

var (
	helperOnce sync.Once
	helperPath string
	helperErr  error
)

// helperBinary returns a copy of the test binary that the pods' unprivileged
// users can run.
func helperBinary(t *testing.T) string {
	t.Helper()
	helperOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			helperErr = err
			return
		}
		helperPath, helperErr = localpod.ShareExecutable(exe)
	})
	if helperErr != nil {
		t.Fatal(helperErr)
	}
	return helperPath
}

// forwardMain stands in for the proxy: it accepts redirected connections on
// port, reads where they were going (SO_ORIGINAL_DST) and connects there,
// announcing itself with a "via <mode>" line so the app can tell which
// sidecars a connection crossed. In mode "in" it connects from 127.0.0.6 /
// ::6, as the proxy does for inbound connections.
func forwardMain(mode, port string) int {
	var lns []net.Listener
	for _, network := range []string{"tcp4", "tcp6"} {
		host := "0.0.0.0"
		if network == "tcp6" {
			host = "::"
		}
		ln, err := net.Listen(network, net.JoinHostPort(host, port))
		if err != nil {
			fmt.Fprintln(os.Stderr, "forward:", err)
			return 1
		}
		lns = append(lns, ln)
	}
	fmt.Println("ready")
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go forward(mode, c.(*net.TCPConn))
			}
		}()
	}
	wg.Wait()
	return 0
}

func forward(mode string, down *net.TCPConn) {
	defer down.Close()
	dst, err := originalDst(down)
	if err != nil {
		fmt.Fprintln(os.Stderr, "forward: original destination:", err)
		return
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	if mode == "in" {
		src := netip.MustParseAddr("127.0.0.6")
		if dst.Addr().Is6() {
			src = netip.MustParseAddr("::6")
		}
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	up, err := d.Dial("tcp", dst.String())
	if err != nil {
		fmt.Fprintln(os.Stderr, "forward: dial", dst, err)
		return
	}
	defer up.Close()
	fmt.Fprintf(up, "via %s\n", mode)
	go func() { _, _ = io.Copy(up, down); _ = up.(*net.TCPConn).CloseWrite() }()
	_, _ = io.Copy(down, up)
}

// originalDst reads the destination a connection had before REDIRECT
// rewrote it, from conntrack.
func originalDst(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var ap netip.AddrPort
	var opErr error
	v4 := c.LocalAddr().(*net.TCPAddr).IP.To4() != nil
	err = raw.Control(func(fd uintptr) {
		if v4 {
			var sa unix.RawSockaddrInet4
			opErr = getsockopt(fd, unix.SOL_IP, unix.SO_ORIGINAL_DST, unsafe.Pointer(&sa), unsafe.Sizeof(sa))
			ap = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port(sa.Port))
			return
		}
		var sa unix.RawSockaddrInet6
		// IP6T_SO_ORIGINAL_DST has the same number as SO_ORIGINAL_DST.
		opErr = getsockopt(fd, unix.SOL_IPV6, unix.SO_ORIGINAL_DST, unsafe.Pointer(&sa), unsafe.Sizeof(sa))
		ap = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port(sa.Port))
	})
	return ap, errors.Join(err, opErr)
}

func getsockopt(fd uintptr, level, name int, p unsafe.Pointer, size uintptr) error {
	l := uint32(size)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, uintptr(level), uintptr(name), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// port converts a sockaddr port, stored in network byte order.
func port(p uint16) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p))[:])
}

// dialMain is a client app running as whatever user the test chose: it
// talks to addr and prints what the app server answered, or the error.
func dialMain(addr string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := talk(ctx, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	fmt.Println(reply)
	return 0
}

// talk is the app protocol: the client says hello; the server answers with
// the peer address it saw and the via lines that forwarders put before the
// hello.
func talk(ctx context.Context, dial func(context.Context) (net.Conn, error)) (string, error) {
	c, err := dial(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// serveApp answers every connection with "peer=<address> via=<modes>".
func serveApp(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(c)
			var via []string
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				line = strings.TrimSpace(line)
				if mode, ok := strings.CutPrefix(line, "via "); ok {
					via = append(via, mode)
					continue
				}
				break
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "peer=%s via=%s\n", host, strings.Join(via, ","))
		}()
	}
}
