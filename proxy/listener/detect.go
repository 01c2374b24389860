package listener

import (
	"github.com/outrider-mesh/outrider/proxy/listener/detect"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
)

// This file holds the listener's side of the sidecar's protocol detection
// (package detect): filter_disabled ports, the memory of server-first
// destinations and the watch of timeout fallbacks.

// filterDisabled counts a listener filter skipped by filter_disabled.
func (a *active) filterDisabled(f listenerFilter) {
	if f == httpInspector {
		a.st.detect.PortSkipped.Inc()
	}
}

// knownServerFirst reports whether http_inspector should be skipped
// because the connection's destination is remembered as server-first.
// Only transparent listeners remember: elsewhere every connection has the
// same destination, the listener itself.
func (a *active) knownServerFirst(cfg *listenerConfig, nc *network.Conn) bool {
	if !cfg.transparent || !a.m.serverFirst.Known(nc.Local) {
		return false
	}
	a.st.detect.ServerFirstSkipped.Inc()
	return true
}

// fallback prepares a connection that goes on as TCP after http_inspector
// timed out. On a transparent listener, when the client has sent nothing
// at all, the connection is watched: if the server speaks first, its
// destination is remembered and later connections skip detection.
func (a *active) fallback(cfg *listenerConfig, nc *network.Conn) {
	a.st.detect.FallbackTCP.Inc()
	if !cfg.transparent || nc.Reader.Buffered() > 0 {
		return
	}
	dst := nc.Local
	nc.Conn = detect.Watch(nc.Conn, func() {
		a.m.serverFirst.Remember(dst)
		a.st.detect.ServerFirstLearned.Inc()
	})
	// The reader holds nothing: from now on it reads through the watch,
	// so whichever filter serves the connection, its reads are seen.
	nc.Reader.Reset(nc.Conn)
}
