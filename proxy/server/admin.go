package server

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/outrider-mesh/outrider/proxy/admin"
	"github.com/outrider-mesh/outrider/version"
)

// adminServer is the admin API listening on admin.address.
type adminServer struct {
	api *admin.Admin
	srv *admin.Server
}

func (a *adminServer) close() {
	if a.srv != nil {
		_ = a.srv.Close()
	}
}

// AdminAddr is the address the admin API listens on, if it does.
func (s *Server) AdminAddr() (netip.AddrPort, bool) {
	if s.admin == nil || s.admin.srv == nil {
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(s.admin.srv.Addr().String())
	return ap, err == nil
}

// Admin is the admin API handler, also served by the sidecar's readiness
// port.
func (s *Server) Admin() *admin.Admin { return s.admin.api }

func (s *Server) startAdmin(b *bootstrapv3.Bootstrap) error {
	api := admin.New(admin.Hooks{
		Stats: s.stats,
		State: func() admin.State {
			return admin.State(s.State().String())
		},
		HealthCheckChanged: func(failed bool) { s.healthFailed.Store(failed) },
		ConfigDump: func() ([]byte, error) {
			return s.current.Load().DumpAt(time.Unix(0, s.loadedAt.Load()))
		},
		Clusters:       s.writeClusters,
		Listeners:      s.writeListeners,
		ServerInfo:     s.serverInfo,
		Quit:           s.requestQuit,
		DrainListeners: s.drainListeners,
		LogLevel:       s.opts.LogLevel,
		ReopenLogs:     s.logs.Reopen,
		Certs:          s.tls.CertsJSON,
	})
	s.admin = &adminServer{api: api}
	sa := b.GetAdmin().GetAddress().GetSocketAddress()
	if sa == nil {
		return nil // no admin address: Envoy runs without the admin API too
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sa.GetPortValue()))
	if a, err := netip.ParseAddr(sa.GetAddress()); err == nil {
		addr = netip.AddrPortFrom(a, uint16(sa.GetPortValue()))
	}
	srv, err := admin.Listen(addr.String(), api)
	if err != nil {
		return fmt.Errorf("server: admin.address: %w", err)
	}
	s.admin.srv = srv
	return nil
}

// drainListeners is POST /drain_listeners. graceful drains for the drain
// time and then stops the listeners; otherwise they stop at once.
func (s *Server) drainListeners(graceful, inboundOnly bool) {
	if !graceful {
		s.listeners.StopListening(inboundOnly)
		return
	}
	s.listeners.StartDrain(inboundOnly)
	time.AfterFunc(s.opts.DrainTime, func() { s.listeners.StopListening(inboundOnly) })
}

// writeClusters is Envoy's /clusters page.
func (s *Server) writeClusters(w io.Writer, asJSON bool) {
	if err := s.clusters.WriteClusters(w, asJSON); err != nil {
		s.log.Warn("server: /clusters", "err", err)
	}
}

func (s *Server) writeListeners(w io.Writer, asJSON bool) {
	if asJSON {
		out, err := s.listeners.DumpJSON()
		if err != nil {
			fmt.Fprintf(w, `{"error":%q}`, err.Error())
			return
		}
		w.Write(out)
		return
	}
	io.WriteString(w, s.listeners.DumpText())
}

// serverInfo is /server_info, in Envoy's shape plus the pod identity.
func (s *Server) serverInfo() any {
	hostname, _ := os.Hostname()
	node := s.current.Load().Node()
	info := map[string]any{
		"version":              version.String(),
		"state":                s.State().String(),
		"hot_restart_version":  "disabled",
		"uptime_current_epoch": fmt.Sprintf("%ds", int(time.Since(s.start).Seconds())),
		"uptime_all_epochs":    fmt.Sprintf("%ds", int(time.Since(s.start).Seconds())),
		"command_line_options": map[string]any{"argv": s.opts.CommandLine, "drain_time": s.opts.DrainTime.String(), "config_path": s.opts.ConfigPath},
		"node":                 map[string]any{"id": node.GetId(), "cluster": node.GetCluster()},
		"hostname":             hostname,
	}
	if len(s.opts.Identity) > 0 {
		info["pod"] = s.opts.Identity
	}
	return info
}
