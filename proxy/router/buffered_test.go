package router

import (
	"io"
	"strings"
	"testing"

	"github.com/outrider-mesh/outrider/proxy/codec/http2"
)

type heldBody struct {
	io.Reader
	n        int
	complete bool
}

func (b heldBody) Buffered() (int, bool) { return b.n, b.complete }
func (heldBody) Close() error            { return nil }

func TestTheCountingBodyPassesOnWhatTheDownstreamBodyHolds(t *testing.T) {
	for _, tc := range []struct {
		name         string
		body         io.ReadCloser
		n            int
		wantComplete bool
	}{
		{name: "a complete downstream body", body: heldBody{strings.NewReader("abc"), 3, true}, n: 3, wantComplete: true},
		{name: "a downstream body still arriving", body: heldBody{strings.NewReader("abc"), 3, false}, n: 3},
		{name: "a body that cannot tell", body: io.NopCloser(strings.NewReader("abc"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b http2.BufferedBody = &countingBody{r: tc.body}
			if n, complete := b.Buffered(); n != tc.n || complete != tc.wantComplete {
				t.Fatalf("Buffered() = %d, %v; want %d, %v", n, complete, tc.n, tc.wantComplete)
			}
		})
	}
}
