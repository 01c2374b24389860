package hcm

import (
	"io"
	"testing"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// BenchmarkH2Request measures the connection manager's HTTP/2 request
// path (request id, forwarding headers, route match, stream record, one
// terminal filter) with a real h2c client on loopback.
func BenchmarkH2Request(b *testing.B) {
	h := newHarness(b, baseConfig(b))
	c := looptest.H2CClient(b)
	url := "http://" + h.addr + "/bench"
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
