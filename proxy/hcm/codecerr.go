package hcm

import (
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/outrider-mesh/outrider/proxy/codec/http1"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// h1Conn is the connection manager's record of one HTTP/1 connection, for
// the requests its codec answers itself (malformed, too large, too slow):
// those never reach a stream, so they are counted and logged here, as
// Envoy logs its codec errors.
type h1Conn struct {
	cm *ConnectionManager
	c  *network.Conn
	// st serves the connection's requests, one at a time; the connection's
	// context carries its Info, so a request needs no context of its own.
	// It is replaced when a timer of the request before may still run.
	st *stream
	// answered is the framing error of a request body that a stream saw
	// and has already answered, counted and logged; the codec reports it
	// once more after the handler returns.
	answered atomic.Pointer[http1.ProtocolError]
}

type h1ConnKey struct{}

// ServeHTTP runs one request of the connection on its stream.
func (hc *h1Conn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !hc.st.reusable {
		hc.st = hc.cm.streams.Get().(*stream)
	}
	hc.cm.serve(hc.st, w, r, hc)
}

// protocolError is the codec's OnProtocolError.
func (hc *h1Conn) protocolError(status int, err error) {
	var pe *http1.ProtocolError
	errors.As(err, &pe)
	if pe != nil && hc.answered.Load() == pe {
		return
	}
	cm := hc.cm
	cm.st.countProtocolError(status)
	if cm.accessLog == nil {
		return
	}
	info := &streaminfo.Info{Start: time.Now(), Protocol: "HTTP/1.1", ResponseCode: status}
	if status == http.StatusUpgradeRequired {
		info.Protocol = "HTTP/1.0"
	}
	if c := hc.c; c != nil {
		info.DownstreamLocal, info.DownstreamRemote, info.DownstreamDirect = c.Local, c.Remote, c.Remote
		info.RequestedServerName = c.ServerName
		info.ListenerName, info.FilterChainName = c.ListenerName, c.FilterChainName
	}
	if pe != nil {
		info.ResponseCodeDetails = pe.Details
		if isCodecError(pe) {
			info.AddFlag(failure.DownstreamProtocolError)
		}
	}
	info.BytesSent.Store(uint64(len(http.StatusText(status))))
	cm.accessLog.Log(info)
}

// isCodecError tells the codec's syntax and framing errors, which Envoy
// flags DPE, from the connection manager's own checks (a missing Host,
// HTTP/1.0 refused, request_headers_timeout), which it does not flag.
func isCodecError(pe *http1.ProtocolError) bool {
	switch pe.Details {
	case "missing_host_header", "low_version", "request_header_timeout":
		return false
	}
	return true
}
