// Package originaldst reads the destination a connection had before
// netfilter redirected it (iptables REDIRECT / DNAT): SO_ORIGINAL_DST for
// IPv4 and IP6T_SO_ORIGINAL_DST for IPv6, as Envoy's
// envoy.filters.listener.original_dst does.
package originaldst

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// soOriginalDst is SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and
// IP6T_SO_ORIGINAL_DST (linux/netfilter_ipv6/ip6_tables.h); both are 80.
const soOriginalDst = 80

// Get returns the original destination of c. For a connection that was not
// redirected the kernel returns the local address itself (conntrack still
// knows the tuple) or an error (no conntrack entry).
func Get(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("originaldst: %w", err)
	}
	local, _ := c.LocalAddr().(*net.TCPAddr)
	v6 := local != nil && local.IP.To4() == nil
	var (
		buf  [28]byte // sockaddr_in6; sockaddr_in fits too
		serr error
	)
	err = raw.Control(func(fd uintptr) {
		level := unix.SOL_IP
		if v6 {
			level = unix.SOL_IPV6
		}
		size := uint32(len(buf))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, uintptr(level), soOriginalDst,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		if errno != 0 {
			serr = errno
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("originaldst: getsockopt SO_ORIGINAL_DST: %w", err)
	}
	return parseSockaddr(buf[:])
}

// parseSockaddr decodes a sockaddr_in or sockaddr_in6 (family in host
// order, port in network order).
func parseSockaddr(b []byte) (netip.AddrPort, error) {
	family := binary.NativeEndian.Uint16(b[0:2])
	port := binary.BigEndian.Uint16(b[2:4])
	switch family {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), nil
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])).Unmap(), port), nil
	}
	return netip.AddrPort{}, fmt.Errorf("originaldst: unexpected address family %d", family)
}
