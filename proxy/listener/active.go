package listener

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider-mesh/outrider/proxy/listener/detect"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/transport/tls"
)

// active is one named listener: its socket survives reloads that keep
// its address, while its generation (the translated config and filters)
// is swapped.
type active struct {
	m     *Manager
	name  string
	addr  netip.AddrPort // configured
	bind  bool
	bound netip.AddrPort // actual; equal to addr unless port 0 was asked
	gen   atomic.Pointer[generation]
	st    *listenerStats

	stopOnce sync.Once
	ln       *net.TCPListener // nil when bind_to_port is false or stopped before binding
}

// generation is one translated config of a listener with its filters.
type generation struct {
	cfg       *listenerConfig
	drainOnce sync.Once
}

// drain asks every connection of the generation to finish.
func (g *generation) drain() {
	g.drainOnce.Do(func() {
		for _, fc := range g.cfg.chains {
			if fc.filter != nil {
				fc.filter.Drain()
			}
		}
		if fc := g.cfg.defaultChain; fc != nil && fc.filter != nil {
			fc.filter.Drain()
		}
	})
}

// listenerStats are Envoy's listener.<address>.* stats.
type listenerStats struct {
	cxTotal, cxDestroy, preTimeout, noChain, filterError, remoteClose *stats.Counter
	cxActive, preActive                                               *stats.Gauge
	cxLength                                                          *stats.Histogram
	detect                                                            *detect.Stats
	scope                                                             stats.Scope
	ssl                                                               atomic.Pointer[tls.Stats] // created on the first TLS handshake
}

func newListenerStats(store *stats.Store, name string) *listenerStats {
	sc := stats.ListenerScope(store, name)
	return &listenerStats{
		detect:      detect.NewStats(store, sc),
		scope:       sc,
		cxTotal:     sc.Counter("downstream_cx_total"),
		cxDestroy:   sc.Counter("downstream_cx_destroy"),
		cxActive:    sc.Gauge("downstream_cx_active"),
		cxLength:    sc.Histogram("downstream_cx_length_ms"),
		preActive:   sc.Gauge("downstream_pre_cx_active"),
		preTimeout:  sc.Counter("downstream_pre_cx_timeout"),
		noChain:     sc.Counter("no_filter_chain_match"),
		filterError: sc.Counter("downstream_listener_filter_error"),
		remoteClose: sc.Counter("downstream_listener_filter_remote_close"),
	}
}

func (a *active) sameSocket(cfg *listenerConfig) bool {
	return a.addr == cfg.addr && a.bind == cfg.bind && a.gen.Load().cfg.v4compat == cfg.v4compat
}

// listen opens the listener's socket. "::" listens on IPv6 only unless
// ipv4_compat is set, as in Envoy.
func listen(cfg *listenerConfig) (*net.TCPListener, error) {
	netw := "tcp4"
	if cfg.addr.Addr().Is6() {
		netw = "tcp6"
		if cfg.v4compat {
			netw = "tcp"
		}
	}
	ln, err := net.ListenTCP(netw, net.TCPAddrFromAddrPort(cfg.addr))
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", cfg.name, err)
	}
	return ln, nil
}

// newActive starts a listener on ln (nil when not bound); m.mu is held.
func (m *Manager) newActive(cfg *listenerConfig, ln *net.TCPListener) *active {
	a := &active{m: m, name: cfg.name, addr: cfg.addr, bind: cfg.bind, bound: cfg.addr, ln: ln}
	a.gen.Store(&generation{cfg: cfg})
	if ln != nil {
		a.bound = netip.AddrPortFrom(cfg.addr.Addr(), network.AddrPort(ln.Addr()).Port())
	}
	statName := cfg.statName
	if cfg.pb.GetStatPrefix() == "" {
		statName = statAddress(a.bound) // the kernel's port when port 0 was asked
	}
	a.st = newListenerStats(m.env.Stats, statName)
	if ln != nil {
		m.wg.Add(1)
		go a.accept(ln)
	}
	return a
}

// stop closes the socket; accepted connections go on.
func (a *active) stop() {
	a.stopOnce.Do(func() {
		if a.ln != nil {
			a.ln.Close()
		}
	})
}

func (a *active) accept(ln *net.TCPListener) {
	defer a.m.wg.Done()
	var backoff time.Duration
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as
			// net/http does, rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			a.m.env.Logger().Warn("listener: accept failed", "listener", a.name, "error", err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !a.m.track(c) {
			c.Close()
			continue
		}
		a.m.wg.Add(1)
		go a.m.serve(a, c)
	}
}
