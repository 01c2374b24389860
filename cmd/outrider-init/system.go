package main

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
)

// podHasIPv6 reports whether an interface other than lo has a global IPv6
// address: a pod without one has no IPv6 traffic to capture, even when its
// kernel has IPv6 on (as in most IPv4-only clusters).
func podHasIPv6() bool {
	ifaces, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() == nil && ipn.IP.IsGlobalUnicast() {
				return true
			}
		}
	}
	return false
}

// capNetAdmin is CAP_NET_ADMIN's bit in the capability sets.
const capNetAdmin = 12

// checkNetAdmin fails early, and clearly, when this process may not change
// the namespace's netfilter rules or addresses.
func checkNetAdmin() error {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil // cannot tell: let the kernel answer
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		v, ok := strings.CutPrefix(s.Text(), "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil || caps&(1<<capNetAdmin) != 0 {
			return nil
		}
		return errors.New("needs CAP_NET_ADMIN in the pod's network namespace: run as root, " +
			"or give the init container the NET_ADMIN and NET_RAW capabilities")
	}
	return nil
}
