// Package deststats is the outrider.filters.http.destination_stats HTTP
// filter: it counts requests by destination authority, protocol and
// response-code class, with their latency, so that a sidecar whose
// outbound traffic all goes through one ORIGINAL_DST cluster (whose
// Envoy-style stats collapse into one series) still gives a RED dashboard
// per destination.
//
// Label cardinality is capped: the first max_destinations (authority,
// protocol) pairs get their own series, every later one is counted under
// the authority "overflow". Series are created the first time a
// destination is seen; after that a request takes no lock and allocates
// nothing.
//
// Stats, for stat_prefix "outbound", authority "reviews:9080", HTTP/1.1:
//
//	destination.outbound.reviews_9080.HTTP/1.1.rq_total
//	  envoy_destination_rq_total{destination_protocol="HTTP/1.1",
//	    destination_authority="reviews:9080",destination_stats_prefix="outbound"}
//	destination.outbound.reviews_9080.HTTP/1.1.rq_2xx
//	  envoy_destination_rq_xx{envoy_response_code_class="2",…}
//	destination.outbound.reviews_9080.HTTP/1.1.rq_time (milliseconds)
//	  envoy_destination_rq_time_bucket{le="…",…}
//	destination.outbound.reviews_9080.gRPC.grpc_success / grpc_failure
//	  (gRPC only: grpc-status 0 or not; a gRPC error comes with HTTP 200)
package deststats

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/deststats/deststatspb"
	"github.com/outrider-mesh/outrider/proxy/httpfilter"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// DefaultMaxDestinations is the cap when max_destinations is unset: about
// 30 Prometheus series each, 256 destinations stay under 8,000 series.
const DefaultMaxDestinations = 256

// Overflow is the authority that requests beyond the cap are counted under.
const Overflow = "overflow"

// maxAuthority bounds the authority kept as a label; longer ones (no real
// host name and port is) are counted under Overflow.
const maxAuthority = 261 // 253 for the name, ":65535" and brackets

// Prometheus label names.
const (
	TagPrefix    = "destination_stats_prefix"
	TagAuthority = "destination_authority"
	TagProtocol  = "destination_protocol"
)

var _ httpfilter.Factory = Factory

// Factory builds the filter from its DestinationStats config.
func Factory(cfg proto.Message, env *httpfilter.Env, p config.Path) (httpfilter.Filter, error) {
	if !deststatspb.Is(cfg) {
		return nil, errors.New("destination_stats: config is not a " + deststatspb.FullName)
	}
	var errs config.Errors
	prefix := deststatspb.StatPrefix(cfg)
	if prefix == "" {
		errs.Addf(p.Field("stat_prefix"), "destination_stats: stat_prefix is required")
	}
	if env == nil || env.Stats == nil {
		errs.Addf(p, "destination_stats: no stats store")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	max := int(deststatspb.MaxDestinations(cfg))
	if max == 0 {
		max = DefaultMaxDestinations
	}
	t := tableFor(env.Stats, prefix, max)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if info := streaminfo.From(r.Context()); info != nil {
				t.record(r, info)
			}
		})
	}, nil
}

// key is one destination.
type key struct {
	authority string
	protocol  string
}

// dest holds one destination's stats.
type dest struct {
	flat    string      // "<authority>.<protocol>." below the table's scope
	tags    []stats.Tag // authority and protocol labels
	total   *stats.Counter
	classes [6]atomic.Pointer[stats.Counter] // 1xx..5xx, created on first use
	time    *stats.Histogram
	grpcOK  *stats.Counter // nil unless the protocol is gRPC
	grpcErr *stats.Counter
}

// table is the set of destinations of one stat_prefix in one store. It
// outlives config reloads, so the cap holds across them; like the store's
// stats themselves, it lives as long as the process (tables, below).
type table struct {
	scope stats.Scope
	max   int

	dests atomic.Pointer[map[key]*dest] // immutable; replaced whole under mu
	full  atomic.Bool                   // n has reached max: new destinations overflow
	mu    sync.Mutex
	n     int // destinations with their own series (overflow excluded)
}

var (
	tablesMu sync.Mutex
	tables   = map[tableKey]*table{}
)

type tableKey struct {
	store  *stats.Store
	prefix string
}

// tableFor returns the table of prefix in store, creating it. A later
// config's max_destinations applies from then on.
func tableFor(store *stats.Store, prefix string, max int) *table {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	k := tableKey{store, prefix}
	if t := tables[k]; t != nil {
		t.mu.Lock()
		t.max = max
		t.full.Store(t.n >= max)
		t.mu.Unlock()
		return t
	}
	t := &table{
		scope: store.Root().Scope("destination", stats.Tag{Name: TagPrefix, Value: prefix}),
		max:   max,
	}
	empty := map[key]*dest{}
	t.dests.Store(&empty)
	tables[k] = t
	return t
}

// record counts one finished request.
func (t *table) record(r *http.Request, info *streaminfo.Info) {
	d := t.lookup(key{authority: r.Host, protocol: protocol(r, info)})
	d.total.Inc()
	d.class(t.scope, info.ResponseCode/100).Inc()
	d.time.Record(uint64(time.Since(info.Start).Milliseconds()))
	if d.grpcOK != nil {
		if grpcStatus(info) == "0" {
			d.grpcOK.Inc()
		} else {
			d.grpcErr.Inc()
		}
	}
}

// lookup finds the stats of k without a lock when they exist: a known
// destination, or, once the table is full, the overflow bucket.
func (t *table) lookup(k key) *dest {
	m := *t.dests.Load()
	if d := m[k]; d != nil {
		return d
	}
	switch a := k.authority; {
	case a == "":
		k.authority = "unknown" // HTTP/1.0 without Host
	case len(a) > maxAuthority || strings.ContainsAny(a, " \t\"\\"):
		k.authority = Overflow
	default:
		k.authority = strings.ToLower(a)
	}
	if d := m[k]; d != nil {
		return d
	}
	if t.full.Load() {
		k.authority = Overflow
		if d := m[k]; d != nil {
			return d
		}
	}
	return t.add(k)
}

// add creates the stats of k, or of the overflow bucket of its protocol
// when the table is full.
func (t *table) add(k key) *dest {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.dests.Load()
	if k.authority != Overflow && t.n >= t.max {
		k.authority = Overflow
	}
	if d := old[k]; d != nil {
		return d
	}
	d := t.newDest(k)
	next := make(map[key]*dest, len(old)+1)
	for kk, v := range old {
		next[kk] = v
	}
	next[k] = d
	if k.authority != Overflow {
		t.n++
	}
	t.full.Store(t.n >= t.max)
	t.dests.Store(&next)
	return d
}

func (t *table) newDest(k key) *dest {
	d := &dest{
		flat: statSegment(k.authority) + "." + k.protocol + ".",
		tags: []stats.Tag{{Name: TagProtocol, Value: k.protocol}, {Name: TagAuthority, Value: k.authority}},
	}
	d.total = t.scope.CounterAs(d.flat+"rq_total", "rq_total", d.tags...)
	d.time = t.scope.HistogramAs(d.flat+"rq_time", "rq_time", d.tags...)
	if k.protocol == "gRPC" {
		d.grpcOK = t.scope.CounterAs(d.flat+"grpc_success", "grpc_success", d.tags...)
		d.grpcErr = t.scope.CounterAs(d.flat+"grpc_failure", "grpc_failure", d.tags...)
	}
	return d
}

// class returns the counter of a response-code class, rq_<n>xx; codes
// outside 100..599 count as class 5, as a reset stream is a failure.
func (d *dest) class(sc stats.Scope, n int) *stats.Counter {
	if n < 1 || n > 5 {
		n = 5
	}
	if c := d.classes[n].Load(); c != nil {
		return c
	}
	v := string(rune('0' + n))
	tags := append([]stats.Tag{{Name: stats.TagResponseCodeClass, Value: v}}, d.tags...)
	// The store returns the same counter to racing creators.
	c := sc.CounterAs(d.flat+"rq_"+v+"xx", "rq_xx", tags...)
	d.classes[n].Store(c)
	return c
}

// statSegment makes an authority one segment of a flat stat name, where
// ':' is statsd's separator (as stats does for cluster names); the
// Prometheus label keeps the authority whole.
func statSegment(authority string) string { return strings.ReplaceAll(authority, ":", "_") }

// protocol names the request's protocol: HTTP/1.0, HTTP/1.1, HTTP/2, or
// gRPC (any HTTP/2 request with a gRPC content type).
func protocol(r *http.Request, info *streaminfo.Info) string {
	if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		return "gRPC"
	}
	if info.Protocol != "" {
		return info.Protocol
	}
	return r.Proto
}

// grpcStatus is the response's grpc-status: from the trailers, or from
// the headers of a trailers-only response; "" when there is none.
func grpcStatus(info *streaminfo.Info) string {
	if s := info.ResponseTrailer.Get("Grpc-Status"); s != "" {
		return s
	}
	return info.ResponseHeader.Get("Grpc-Status")
}
