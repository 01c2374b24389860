// Package networktest runs a network filter (a connection manager, a
// tcp_proxy) behind a loopback listener for tests, without the listener
// package's chains and listener filters.
package networktest

import (
	"bufio"
	"context"
	"net"
	"testing"

	"github.com/outrider-mesh/outrider/internal/looptest"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
)

// Serve runs f for every connection to a new loopback listener, as a
// listener with no listener filters would hand it over: a reader from the
// first byte and the socket's addresses. It returns the address. At the
// end of the test the filter's context is cancelled first (a draining
// filter sees it end), then the listener and the connections are closed
// and Serve waits for the filter to return from each.
func Serve(tb testing.TB, f network.Filter) string {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := looptest.Serve(tb, func(c net.Conn) {
		f.ServeConn(ctx, &network.Conn{Conn: c, Reader: bufio.NewReader(c),
			Local: network.AddrPort(c.LocalAddr()), Remote: network.AddrPort(c.RemoteAddr())})
	})
	tb.Cleanup(cancel)
	return addr
}
