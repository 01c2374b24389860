package looptest

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// H2CClient is x/net's HTTP/2 client speaking prior-knowledge h2c (for
// "http://" URLs), with a 10 s timeout and no transparent decompression;
// its idle connections close at the end of the test.
func H2CClient(tb testing.TB) *http.Client {
	tr := &http2.Transport{
		AllowHTTP:          true,
		DisableCompression: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}
