package load

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/http2"

	"fortio.org/fortio/fhttp"
)

// HTTP is an HTTP load: GET URL, over HTTP/1.1 or h2c.
type HTTP struct {
	URL string
	// H2 sends HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
	H2 bool
	// NewConnection opens a new connection for every request.
	NewConnection bool
	Pace
}

// RunHTTP sends the load and returns what it measured. Each connection
// makes one warm-up request first, not counted. With Pace.In, fortio's
// standard client is used instead of its fast one, because only that one
// lets every dial, reconnections included, go through In.
func RunHTTP(h HTTP) (Result, error) {
	quiet()
	if err := checkPace(h.Pace); err != nil {
		return Result{}, err
	}
	rec := newRecorder(h.Pace)
	o := &fhttp.HTTPRunnerOptions{
		RunnerOptions: h.runnerOptions(rec),
		HTTPOptions: fhttp.HTTPOptions{
			URL:              h.URL,
			H2:               h.H2,
			DisableKeepAlive: h.NewConnection,
			HTTPReqTimeOut:   5 * time.Second,
		},
	}
	if h.In != nil {
		o.DisableFastClient = true
		o.Transport = h.dialThroughIn
	}
	res, err := fhttp.RunHTTPTest(o)
	if err != nil {
		return Result{}, fmt.Errorf("load: %s: %w", h.URL, err)
	}
	return rec.result(res.ActualDuration), nil
}

// dialThroughIn makes fortio's standard transports dial through Pace.In.
func (h HTTP) dialThroughIn(rt http.RoundTripper) http.RoundTripper {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := h.In(func() (err error) {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	switch t := rt.(type) {
	case *http.Transport:
		t.DialContext = dial
	case *http2.Transport:
		t.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return dial(ctx, network, addr)
		}
	default:
		// An unknown transport must not dial from the wrong namespace.
		return failing{fmt.Errorf("load: cannot route %T's dials through Pace.In", rt)}
	}
	return rt
}

type failing struct{ err error }

func (f failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }
