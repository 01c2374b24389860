// Package loopback adds and removes host addresses on the lo interface of the
// current network namespace, over rtnetlink.
//
// outrider-init uses it for ::6, the IPv6 source the proxy binds when it
// connects to the application for an inbound connection. IPv4 needs nothing:
// all of 127.0.0.0/8 is on lo already, but IPv6 lo only has ::1/128.
package loopback

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ifaddrmsg is struct ifaddrmsg from <linux/if_addr.h>.
type ifaddrmsg struct {
	family, prefixlen, flags, scope uint8
	index                           uint32
}

func (m ifaddrmsg) marshal() []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0], b[1], b[2], b[3] = m.family, m.prefixlen, m.flags, m.scope
	binary.NativeEndian.PutUint32(b[4:], m.index)
	return b
}

// Add puts addr on lo as a host address (/32 or /128) with duplicate address
// detection off, so it is usable at once. Adding an address that is there
// already succeeds.
func Add(addr netip.Addr) error {
	return request(unix.RTM_NEWADDR, netlink.Create|netlink.Replace, addr)
}

// Remove takes addr off lo. Removing an address that is not there succeeds.
func Remove(addr netip.Addr) error {
	err := request(unix.RTM_DELADDR, 0, addr)
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		return nil
	}
	return err
}

// Has reports whether addr is on lo.
func Has(addr netip.Addr) (bool, error) {
	idx, err := loIndex()
	if err != nil {
		return false, err
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return false, fmt.Errorf("loopback: %w", err)
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETADDR, Flags: netlink.Request | netlink.Dump},
		Data:   ifaddrmsg{family: family(addr)}.marshal(),
	})
	if err != nil {
		return false, fmt.Errorf("loopback: listing addresses: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < unix.SizeofIfAddrmsg || binary.NativeEndian.Uint32(m.Data[4:8]) != idx {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofIfAddrmsg:])
		if err != nil {
			return false, fmt.Errorf("loopback: %w", err)
		}
		for ad.Next() {
			if ad.Type() != unix.IFA_ADDRESS && ad.Type() != unix.IFA_LOCAL {
				continue
			}
			if a, ok := netip.AddrFromSlice(ad.Bytes()); ok && a == addr {
				return true, nil
			}
		}
	}
	return false, nil
}

func request(typ netlink.HeaderType, flags netlink.HeaderFlags, addr netip.Addr) error {
	if !addr.IsValid() || addr.Zone() != "" {
		return fmt.Errorf("loopback: invalid address %v", addr)
	}
	idx, err := loIndex()
	if err != nil {
		return err
	}
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.IFA_LOCAL, addr.AsSlice())
	ae.Bytes(unix.IFA_ADDRESS, addr.AsSlice())
	ae.Uint32(unix.IFA_FLAGS, unix.IFA_F_NODAD)
	attrs, err := ae.Encode()
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	msg := ifaddrmsg{
		family:    family(addr),
		prefixlen: uint8(addr.BitLen()),
		flags:     unix.IFA_F_NODAD,
		scope:     unix.RT_SCOPE_UNIVERSE, // IPv6 derives the scope from the address anyway
		index:     idx,
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer c.Close()
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   append(msg.marshal(), attrs...),
	})
	if err != nil {
		verb := "adding"
		if typ == unix.RTM_DELADDR {
			verb = "removing"
		}
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("loopback: %s %s on lo: %w (needs CAP_NET_ADMIN)", verb, addr, err)
		}
		return fmt.Errorf("loopback: %s %s on lo: %w", verb, addr, err)
	}
	return nil
}

func loIndex() (uint32, error) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return 0, fmt.Errorf("loopback: %w", err)
	}
	return uint32(lo.Index), nil
}

func family(a netip.Addr) uint8 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}
