package hcm

import (
	"net/http"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

func TestResponsesWithoutDateGetOneAndAnUpstreamDateIsKept(t *testing.T) {
	requireHTTP1(t)
	h := newHarness(t, baseConfig(t))
	c, br := looptest.Dial(t, h.addr)
	for _, tc := range []struct {
		name, path string
		want       func(string) bool
	}{
		{"a response without Date gets the current time", "/one", func(v string) bool {
			d, err := http.ParseTime(v)
			return err == nil && time.Since(d).Abs() < time.Hour
		}},
		{"the upstream's Date is kept", "/dated", func(v string) bool { return v == upstreamDate }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h1Do(t, c, br, "GET "+tc.path+" HTTP/1.1\r\nHost: a\r\n\r\n")
			if got := resp.Header.Values("Date"); len(got) != 1 || !tc.want(got[0]) {
				t.Fatalf("Date = %q", got)
			}
		})
	}
}

func TestDateIsFormattedOncePerSecond(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 3, 4, 5, 0, time.UTC)
	a := dateNow(t0)
	b := dateNow(t0.Add(999 * time.Millisecond))
	c := dateNow(t0.Add(time.Second))
	if a[0] != "Thu, 26 Nov 2026 03:04:05 GMT" || &a[0] != &b[0] {
		t.Fatalf("same second: %q %q (shared %v)", a, b, &a[0] == &b[0])
	}
	if c[0] != "Thu, 26 Nov 2026 03:04:06 GMT" {
		t.Fatalf("next second: %q", c)
	}
	if cap(a) != 1 {
		t.Fatalf("cap = %d: an append would write into the shared value", cap(a))
	}
}
