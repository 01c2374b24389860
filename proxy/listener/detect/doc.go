// Package detect is what protocol detection (http_inspector) needs so that
// a transparent sidecar neither stalls server-first protocols nor misreads
// slow HTTP clients:
//
//   - Ports: filter_disabled, Envoy's per-listener-filter predicate on the
//     destination port, translated to a port set. The sidecar disables
//     http_inspector on ports known to be server-first or opaque (SMTP 25
//     and 587, MySQL 3306, 4444, PostgreSQL 5432, Redis 6379,
//     Elasticsearch 9300, memcached 11211), so those connections go to
//     their TCP filter chain at once.
//   - Elsewhere the listener's listener_filters_timeout bounds detection;
//     with continue_on_listener_filters_timeout the connection then goes on
//     as TCP (no application protocol is known, so an HTTP-only chain does
//     not match). Watch observes such a fallback: when the server sends the
//     first bytes, the destination is a server-first one.
//   - ServerFirst remembers those destinations (bounded, least recently
//     used forgotten first) so that later connections to them skip
//     detection and see the banner at once.
//
// Learning applies only on transparent listeners (those with the
// original_dst listener filter), where the destination is the real server
// the application asked for; on other listeners detection keeps Envoy's
// semantics exactly.
//
// A fallback must never weaken inbound policy. It cannot by construction:
// the fallback goes to the filter chain that matches a connection with no
// application protocol, and a port whose authorization rules are
// HTTP-only gets, beside its HTTP chain, a chain for the same
// destination_port without application_protocols that refuses the
// connection (the sidecar's HTTPOnlyInboundPorts; an authorization
// translator emits the same pair). Envoy's chain matching picks the port's
// own chains before any port-less one, so the timeout path of such a port
// ends at the refusing chain, never at the generic TCP passthrough.
package detect
