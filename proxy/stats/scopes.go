package stats

import (
	"regexp"
	"strings"
)

// Envoy's tag names (the labels its default tag extractors produce).
const (
	TagClusterName         = "envoy_cluster_name"
	TagHTTPConnManager     = "envoy_http_conn_manager_prefix"
	TagListenerAddress     = "envoy_listener_address"
	TagTCPPrefix           = "envoy_tcp_prefix"
	TagResponseCode        = "envoy_response_code"
	TagResponseCodeClass   = "envoy_response_code_class"
	TagVirtualHost         = "envoy_virtual_host"
	TagVirtualCluster      = "envoy_virtual_cluster"
	TagWorkerID            = "envoy_worker_id"
	TagRBACPrefix          = "envoy_rbac_prefix"
	TagRateLimitPrefix     = "envoy_local_http_ratelimit_prefix"
	TagFaultDownstreamName = "envoy_fault_downstream_cluster"
)

// statName makes a configured name usable as one segment of a flat stat
// name, as Envoy's stat-name sanitizer does: ':' is statsd's separator and
// becomes '_'.
func statName(s string) string {
	return strings.ReplaceAll(s, ":", "_")
}

// ClusterScope is the scope of cluster name's stats: "cluster.<name>.",
// Prometheus envoy_cluster_*{envoy_cluster_name="<name>"}. The label holds
// the whole name even when it contains dots, which Envoy's default
// extractor would cut at the first dot.
func ClusterScope(s *Store, name string) Scope {
	return s.Root().Scope("cluster", Tag{Name: TagClusterName, Value: statName(name)})
}

// HTTPScope is the scope of an HTTP connection manager's stats:
// "http.<stat_prefix>.", envoy_http_*{envoy_http_conn_manager_prefix="<stat_prefix>"}.
func HTTPScope(s *Store, statPrefix string) Scope {
	return s.Root().Scope("http", Tag{Name: TagHTTPConnManager, Value: statName(statPrefix)})
}

// TCPScope is the scope of a tcp_proxy's stats: "tcp.<stat_prefix>.",
// envoy_tcp_*{envoy_tcp_prefix="<stat_prefix>"}.
func TCPScope(s *Store, statPrefix string) Scope {
	return s.Root().Scope("tcp", Tag{Name: TagTCPPrefix, Value: statName(statPrefix)})
}

// listenerAddress is Envoy's listener-address extractor: only names made of
// an IPv4 or bracketed-IPv6 address and port become a label.
var listenerAddress = regexp.MustCompile(`^(?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*)$`)

// ListenerScope is the scope of a listener's stats. addrOrPrefix is the
// listener's address ("0.0.0.0:10000", "[::]:15001") or its stat_prefix.
// An address gives "listener.0.0.0.0_10000." with the label
// envoy_listener_address="0.0.0.0_10000"; any other name (Envoy's
// "listener.admin.") stays in the metric name, as Envoy's tag extractor
// leaves it: envoy_listener_admin_downstream_cx_total.
func ListenerScope(s *Store, addrOrPrefix string) Scope {
	name := statName(addrOrPrefix)
	if listenerAddress.MatchString(name) {
		return s.Root().Scope("listener", Tag{Name: TagListenerAddress, Value: name})
	}
	return s.Root().Scope("listener").Scope(name)
}

// ListenerHTTPScope is the per-listener view of an HTTP connection
// manager's stats, "listener.<address>.http.<stat_prefix>.", which Envoy
// keeps beside the HCM's own (downstream_rq_<class>xx, downstream_rq_completed).
func ListenerHTTPScope(listener Scope, statPrefix string) Scope {
	return listener.Scope("http", Tag{Name: TagHTTPConnManager, Value: statName(statPrefix)})
}

// ServerScope is "server.", envoy_server_* without labels (server.live,
// server.uptime, server.state, ...).
func ServerScope(s *Store) Scope {
	return s.Root().Scope("server")
}
