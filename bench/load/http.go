package load

import (
	"fmt"
	"time"

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
// makes one warm-up request first, not counted.
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
	res, err := fhttp.RunHTTPTest(o)
	if err != nil {
		return Result{}, fmt.Errorf("load: %s: %w", h.URL, err)
	}
	return rec.result(res.ActualDuration), nil
}
