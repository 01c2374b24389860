package apphealth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DefaultReadyURL is the proxy's readiness endpoint that `outrider-proxy wait` polls.
const DefaultReadyURL = "http://127.0.0.1:15021/healthz/ready"

// Wait polls url until it answers 200 OK, and returns nil then. It returns an error when
// timeout passes first (zero means no limit other than ctx) or ctx ends.
//
// It backs `outrider-proxy wait`, the postStart hook that holds a classic (non-native)
// sidecar pod's application containers until the proxy is ready: the kubelet does not
// start the next container until the hook returns. The image has no curl, hence a subcommand.
func Wait(ctx context.Context, url string, timeout time.Duration) error {
	if _, err := http.NewRequest(http.MethodGet, url, nil); err != nil {
		return fmt.Errorf("apphealth: wait: %w", err)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	// Short first intervals: applications should start within a fraction of a second of
	// the proxy being ready; later ones back off so a slow start costs little.
	interval := 20 * time.Millisecond
	const maxInterval = 500 * time.Millisecond
	var last string
	for {
		status, err := pollOnce(ctx, client, url)
		if err == nil && status == http.StatusOK {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("status %d", status)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("apphealth: %s not ready (last: %s): %w", url, last, ctx.Err())
		case <-t.C:
		}
		interval = min(interval*2, maxInterval)
	}
}

func pollOnce(ctx context.Context, client *http.Client, url string) (int, error) {
	// Each attempt is bounded on its own so one stuck connection cannot eat the whole wait.
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, nil
}
