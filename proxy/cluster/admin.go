package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// WriteClusters writes the admin /clusters page: Envoy's text lines
// ("backend::10.0.0.1:80::cx_active::0") or, with asJSON, its
// cluster_statuses document.
func (m *Manager) WriteClusters(w io.Writer, asJSON bool) error {
	if asJSON {
		return m.writeClustersJSON(w)
	}
	for _, c := range m.All() {
		t := c.s.thresholds
		fmt.Fprintf(w, "%s::observability_name::%s\n", c.s.name, c.s.statName)
		for _, l := range []struct {
			name string
			v    uint32
		}{{"max_connections", t.maxConnections}, {"max_pending_requests", t.maxPending},
			{"max_requests", t.maxRequests}, {"max_retries", t.maxRetries}} {
			fmt.Fprintf(w, "%s::default_priority::%s::%d\n", c.s.name, l.name, l.v)
		}
		fmt.Fprintf(w, "%s::added_via_api::false\n", c.s.name)
		for _, h := range c.Hosts() {
			hs := h.Stats()
			prefix := c.s.name + "::" + h.addr.String() + "::"
			for _, kv := range []struct {
				name string
				v    int64
			}{
				{"cx_active", hs.CxActive.Load()}, {"cx_connect_fail", int64(hs.CxConnectFail.Load())},
				{"cx_total", int64(hs.CxTotal.Load())}, {"rq_active", hs.RqActive.Load()},
				{"rq_error", int64(hs.RqError.Load())}, {"rq_success", int64(hs.RqSuccess.Load())},
				{"rq_timeout", int64(hs.RqTimeout.Load())}, {"rq_total", int64(hs.RqTotal.Load())},
			} {
				fmt.Fprintf(w, "%s%s::%d\n", prefix, kv.name, kv.v)
			}
			flags := "healthy"
			if !h.Healthy() {
				flags = "/failed_eds_health"
			}
			fmt.Fprintf(w, "%shostname::%s\n%shealth_flags::%s\n%sweight::%d\n%spriority::0\n",
				prefix, h.hostname, prefix, flags, prefix, h.weight, prefix)
		}
	}
	return nil
}

type jsonStat struct {
	Name  string `json:"name"`
	Type  string `json:"type,omitempty"`
	Value string `json:"value"`
}

type jsonHost struct {
	Address struct {
		SocketAddress struct {
			Address   string `json:"address"`
			PortValue uint16 `json:"port_value"`
		} `json:"socket_address"`
	} `json:"address"`
	Stats        []jsonStat        `json:"stats"`
	HealthStatus map[string]string `json:"health_status"`
	Weight       uint32            `json:"weight"`
	Hostname     string            `json:"hostname,omitempty"`
}

func (m *Manager) writeClustersJSON(w io.Writer) error {
	type threshold struct {
		Priority           string `json:"priority"`
		MaxConnections     uint32 `json:"max_connections"`
		MaxPendingRequests uint32 `json:"max_pending_requests"`
		MaxRequests        uint32 `json:"max_requests"`
		MaxRetries         uint32 `json:"max_retries"`
	}
	type status struct {
		Name              string     `json:"name"`
		ObservabilityName string     `json:"observability_name"`
		AddedViaAPI       bool       `json:"added_via_api"`
		HostStatuses      []jsonHost `json:"host_statuses"`
		CircuitBreakers   struct {
			Thresholds []threshold `json:"thresholds"`
		} `json:"circuit_breakers"`
	}
	var doc struct {
		ClusterStatuses []status `json:"cluster_statuses"`
	}
	for _, c := range m.All() {
		t := c.s.thresholds
		st := status{Name: c.s.name, ObservabilityName: c.s.statName, HostStatuses: []jsonHost{}}
		st.CircuitBreakers.Thresholds = []threshold{{Priority: "DEFAULT", MaxConnections: t.maxConnections,
			MaxPendingRequests: t.maxPending, MaxRequests: t.maxRequests, MaxRetries: t.maxRetries}}
		for _, h := range c.Hosts() {
			hs := h.Stats()
			eds := "HEALTHY"
			if !h.Healthy() {
				eds = h.health.String()
			}
			jh := jsonHost{HealthStatus: map[string]string{"eds_health_status": eds}, Weight: h.weight, Hostname: h.hostname}
			jh.Address.SocketAddress.Address = h.addr.Addr().String()
			jh.Address.SocketAddress.PortValue = h.addr.Port()
			u := func(v uint64) string { return strconv.FormatUint(v, 10) }
			i := func(v int64) string { return strconv.FormatInt(v, 10) }
			jh.Stats = []jsonStat{
				{Name: "cx_connect_fail", Value: u(hs.CxConnectFail.Load())},
				{Name: "cx_total", Value: u(hs.CxTotal.Load())},
				{Name: "rq_error", Value: u(hs.RqError.Load())},
				{Name: "rq_success", Value: u(hs.RqSuccess.Load())},
				{Name: "rq_timeout", Value: u(hs.RqTimeout.Load())},
				{Name: "rq_total", Value: u(hs.RqTotal.Load())},
				{Name: "cx_active", Type: "GAUGE", Value: i(hs.CxActive.Load())},
				{Name: "rq_active", Type: "GAUGE", Value: i(hs.RqActive.Load())},
			}
			st.HostStatuses = append(st.HostStatuses, jh)
		}
		doc.ClusterStatuses = append(doc.ClusterStatuses, st)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(doc)
}
