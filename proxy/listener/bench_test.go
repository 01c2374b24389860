package listener

import (
	"io"
	"net"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// BenchmarkAcceptMatchAndProxy measures a connection's whole downstream
// path: accept, http_inspector, chain match among several chains, and a
// tcp_proxy connect to a loopback backend that answers one byte.
func BenchmarkAcceptMatchAndProxy(b *testing.B) {
	bs := backends{"a": looptest.Serve(b, func(c net.Conn) { c.Write([]byte("a")) })}
	m, _ := newManager(b, bs)
	l := tcpListener(b, "in", "a")
	for _, port := range []uint32{1, 2, 3} {
		fc := tcpChain(b, "a", time.Hour)
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(port)}
		l.FilterChains = append(l.FilterChains, fc)
	}
	l.ListenerFilters = []*listenerv3.ListenerFilter{lfilter(b, "http")}
	if err := m.Apply([]*listenerv3.Listener{l}, "l"); err != nil {
		b.Fatal(err)
	}
	a, _ := m.Addr("in")
	buf := make([]byte, 1)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", a.String())
		if err != nil {
			b.Fatal(err)
		}
		c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
