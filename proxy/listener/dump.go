package listener

import (
	"encoding/json"
	"strings"
)

// Status is one listener as the admin /listeners page shows it.
type Status struct {
	Name    string `json:"name"`
	Address string `json:"address"` // bound "ip:port"
	// Direction is the traffic_direction: "UNSPECIFIED", "INBOUND" or
	// "OUTBOUND".
	Direction string `json:"traffic_direction"`
}

// Statuses lists the listeners sorted by name.
func (m *Manager) Statuses() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.listeners))
	for _, name := range m.sortedNames() {
		a := m.listeners[name]
		out = append(out, Status{Name: name, Address: a.bound.String(),
			Direction: a.gen.Load().cfg.direction.String()})
	}
	return out
}

// DumpText is Envoy's /listeners text: one "name::address" line each.
func (m *Manager) DumpText() string {
	var b strings.Builder
	for _, s := range m.Statuses() {
		b.WriteString(s.Name + "::" + s.Address + "\n")
	}
	return b.String()
}

// DumpJSON is Envoy's /listeners?format=json shape:
// {"listener_statuses":[{"name":…,"local_address":{"socket_address":{…}}}]}.
func (m *Manager) DumpJSON() ([]byte, error) {
	type sockAddr struct {
		Address   string `json:"address"`
		PortValue uint16 `json:"port_value"`
	}
	type localAddr struct {
		SocketAddress sockAddr `json:"socket_address"`
	}
	type status struct {
		Name         string    `json:"name"`
		LocalAddress localAddr `json:"local_address"`
	}
	m.mu.Lock()
	out := struct {
		ListenerStatuses []status `json:"listener_statuses"`
	}{ListenerStatuses: []status{}}
	for _, name := range m.sortedNames() {
		b := m.listeners[name].bound
		out.ListenerStatuses = append(out.ListenerStatuses, status{Name: name,
			LocalAddress: localAddr{sockAddr{Address: b.Addr().String(), PortValue: b.Port()}}})
	}
	m.mu.Unlock()
	return json.MarshalIndent(out, "", "  ")
}
