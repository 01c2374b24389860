package listener

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/hcm"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/tcpproxy"
)

var (
	tcpProxyURL = typeURL(&tcpproxyv3.TcpProxy{})
	hcmURL      = typeURL(&hcmv3.HttpConnectionManager{})
)

// translateNetworkFilter builds the terminal network filter of a chain.
func translateNetworkFilter(f *listenerv3.Filter, env *Env, p config.Path) (network.Filter, error) {
	var errs config.Errors
	network.RejectUnhandled(&errs, f, p, "name", "typed_config")
	tc := f.GetTypedConfig()
	tp := p.Field("typed_config")
	if tc == nil {
		errs.Addf(tp, "listener: typed_config is required")
		return nil, errs.Err()
	}
	switch tc.GetTypeUrl() {
	case tcpProxyURL:
		pb := &tcpproxyv3.TcpProxy{}
		if err := anypb.UnmarshalTo(tc, pb, proto.UnmarshalOptions{}); err != nil {
			errs.Addf(tp, "listener: %w", err)
			return nil, errs.Err()
		}
		tf, err := tcpproxy.Translate(pb, env, tp)
		errs.Add(tp, err)
		if err != nil {
			return nil, errs.Err()
		}
		return tf, errs.Err()
	case hcmURL:
		pb := &hcmv3.HttpConnectionManager{}
		if err := anypb.UnmarshalTo(tc, pb, proto.UnmarshalOptions{}); err != nil {
			errs.Addf(tp, "listener: %w", err)
			return nil, errs.Err()
		}
		cm, err := hcm.Translate(pb, env, tp)
		errs.Add(tp, err)
		if err != nil {
			return nil, errs.Err()
		}
		return cm, errs.Err()
	}
	errs.Addf(tp, "listener: network filter %s (%s) is not supported", f.GetName(), tc.GetTypeUrl())
	return nil, errs.Err()
}

// withoutRoutes returns a copy of pb with every inline route_config of its
// connection managers cleared, to tell a route-only change (applied in
// place, without draining) from any other change.
func withoutRoutes(pb *listenerv3.Listener) *listenerv3.Listener {
	c := proto.Clone(pb).(*listenerv3.Listener)
	strip := func(fc *listenerv3.FilterChain) {
		for _, f := range fc.GetFilters() {
			tc := f.GetTypedConfig()
			if tc.GetTypeUrl() != hcmURL {
				continue
			}
			m := &hcmv3.HttpConnectionManager{}
			if anypb.UnmarshalTo(tc, m, proto.UnmarshalOptions{}) != nil {
				continue
			}
			m.RouteSpecifier = nil
			a, err := anypb.New(m)
			if err == nil {
				f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
			}
		}
	}
	for _, fc := range c.GetFilterChains() {
		strip(fc)
	}
	if c.GetDefaultFilterChain() != nil {
		strip(c.GetDefaultFilterChain())
	}
	return c
}

// adoptRoutes moves the route tables of next's connection managers into
// the filters of prev, whose shape is otherwise identical, and returns
// next's config holding prev's filters.
func adoptRoutes(prev, next *listenerConfig) *listenerConfig {
	move := func(old, nw *filterChain) *filterChain {
		if o, ok := old.filter.(*hcm.ConnectionManager); ok {
			if n, ok := nw.filter.(*hcm.ConnectionManager); ok {
				o.AdoptRoutes(n)
			}
		}
		return &filterChain{name: nw.name, filter: old.filter, tls: nw.tls}
	}
	out := *next
	out.chains = make([]*filterChain, len(next.chains))
	for i := range next.chains {
		out.chains[i] = move(prev.chains[i], next.chains[i])
	}
	if next.defaultChain != nil {
		out.defaultChain = move(prev.defaultChain, next.defaultChain)
	}
	return &out
}

var _ = fmt.Sprintf
