package hcm

import "net/http"

// h2Handler is the handler the HTTP/2 codec (codec/http2) runs for each
// stream.
//
// Why: the codec starts a goroutine per stream, and a goroutine starts
// with the smallest stack (2 KiB). A proxied request goes deep (filters,
// router, upstream pool, the codec's response writer), so its stack was
// copied three or four times on the way down, each copy walking every
// frame to adjust pointers: 7.5% of the proxy's CPU at h2c max rate (with
// x/net's server, which had the same goroutine per stream). Growing the
// stack once, while it is still shallow, costs one cheap copy and a clear
// of the probe frame.
type h2Handler struct{ cm *ConnectionManager }

func (h h2Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	growStack()
	h.cm.ServeHTTP(w, r)
}

// stackProbe sizes growStack's frame so that the runtime grows a fresh
// goroutine's stack straight to 16 KiB (the largest size served from the
// per-P stack caches): enough for a proxied HTTP/2 request.
const stackProbe = 10 << 10

// probeIndex is read at run time so that the compiler keeps the frame.
var probeIndex = stackProbe - 1

//go:noinline
func growStack() byte {
	var frame [stackProbe]byte
	return frame[probeIndex]
}
