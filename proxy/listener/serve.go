package listener

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/outrider-mesh/outrider/proxy/listener/chain"
	"github.com/outrider-mesh/outrider/proxy/listener/inspector"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/listener/originaldst"
	"github.com/outrider-mesh/outrider/proxy/sockio"
)

// readerSize is the per-connection read buffer; a ClientHello that does
// not fit gets a larger one for that connection only.
const readerSize = 4096

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readerSize) }}

// serve runs one accepted connection to its end.
func (m *Manager) serve(a *active, c *net.TCPConn) {
	defer m.wg.Done()
	defer m.untrack(c)
	defer c.Close()
	r := readers.Get().(*bufio.Reader)
	// Read without the scheduler's system-call hand-off (see sockio).
	r.Reset(sockio.Reader(c))
	nc := &network.Conn{
		Conn:   c,
		Reader: r,
		Local:  network.AddrPort(c.LocalAddr()),
		Remote: network.AddrPort(c.RemoteAddr()),
	}
	a.handle(nc, c, false)
	if nc.Reader == r {
		r.Reset(nil)
		readers.Put(r)
	}
}

// handle runs listener filters, the use_original_dst hand-off, chain
// matching and the network filter, on listener a's current generation.
func (a *active) handle(nc *network.Conn, c *net.TCPConn, handedOff bool) {
	g := a.gen.Load()
	cfg := g.cfg
	nc.ListenerName = cfg.name
	if len(cfg.filters) > 0 && !a.runListenerFilters(cfg, nc, c) {
		return
	}
	if cfg.useOriginalDst && nc.Redirected && !handedOff {
		if to := a.m.lookup(nc.Local); to != nil && to != a {
			to.handle(nc, c, true)
			return
		}
	}
	if nc.TransportProtocol == "" {
		nc.TransportProtocol = "raw_buffer"
	}
	facts := chain.Facts{
		Local:             nc.Local,
		Remote:            nc.Remote,
		Direct:            nc.Remote,
		ServerName:        nc.ServerName,
		TransportProtocol: nc.TransportProtocol,
		ALPN:              nc.ALPN,
	}
	fc := cfg.defaultChain
	if i := cfg.table.Select(&facts); i >= 0 {
		fc = cfg.chains[i]
	}
	if fc == nil || fc.filter == nil {
		a.st.noChain.Inc()
		return
	}
	nc.FilterChainName = fc.name
	a.st.cxTotal.Inc()
	a.st.cxActive.Inc()
	start := time.Now()
	a.serveChain(fc, nc)
	a.st.cxActive.Dec()
	a.st.cxDestroy.Inc()
	a.st.cxLength.Record(uint64(time.Since(start).Milliseconds()))
}

// runListenerFilters runs cfg's listener filters within
// listener_filters_timeout; it reports whether the connection goes on.
func (a *active) runListenerFilters(cfg *listenerConfig, nc *network.Conn, c *net.TCPConn) bool {
	a.st.preActive.Inc()
	defer a.st.preActive.Dec()
	if cfg.filtersTimeout > 0 {
		c.SetReadDeadline(time.Now().Add(cfg.filtersTimeout))
		defer c.SetReadDeadline(time.Time{})
	}
	for i, f := range cfg.filters {
		if cfg.disabled[i].Has(nc.Local.Port()) {
			a.filterDisabled(f)
			continue
		}
		var err error
		switch f {
		case originalDst:
			if dst, gerr := originaldst.Get(c); gerr == nil && dst != nc.Local {
				nc.Local, nc.Redirected = dst, true
			}
		case tlsInspector:
			var res inspector.TLSResult
			res, nc.Reader, err = inspector.InspectTLS(nc.Reader, c)
			if err == nil {
				if res.IsTLS {
					nc.TransportProtocol = "tls"
					nc.ServerName = res.ServerName
					nc.ALPN = res.ALPN
				} else if nc.TransportProtocol == "" {
					nc.TransportProtocol = "raw_buffer"
				}
			}
		case httpInspector:
			if nc.TransportProtocol != "" && nc.TransportProtocol != "raw_buffer" {
				continue
			}
			if a.knownServerFirst(cfg, nc) {
				continue
			}
			var proto string
			proto, err = inspector.InspectHTTP(nc.Reader)
			a.st.detect.Found(proto, err, errors.Is(err, os.ErrDeadlineExceeded))
			if err == nil && proto != "" {
				nc.ALPN = []string{proto}
			}
		}
		if err == nil {
			continue
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			a.st.preTimeout.Inc()
			if cfg.continueOnTimeout && f == httpInspector {
				a.fallback(cfg, nc)
			}
			return cfg.continueOnTimeout
		case errors.Is(err, io.EOF):
			a.st.remoteClose.Inc()
		default:
			a.st.filterError.Inc()
		}
		return false
	}
	return true
}
