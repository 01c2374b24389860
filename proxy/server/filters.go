package server

import (
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	"google.golang.org/protobuf/proto"

	"github.com/outrider-mesh/outrider/proxy/deststats"
	"github.com/outrider-mesh/outrider/proxy/deststats/deststatspb"
	"github.com/outrider-mesh/outrider/proxy/httpfilter"
	"github.com/outrider-mesh/outrider/proxy/router"
)

// httpFilters is every HTTP filter the proxy knows, keyed by the type URL
// of its typed_config. A connection manager chains them in the order its
// http_filters list gives; the router is always last. This is the one
// place where the HTTP filter stack is assembled.
func httpFilters() map[string]httpfilter.Factory {
	return map[string]httpfilter.Factory{
		deststatspb.TypeURL:         deststats.Factory, // per-destination request stats (the sidecar's outbound and inbound)
		typeURL(&routerv3.Router{}): router.Factory,    // forwards upstream: retries, timeouts, pools
	}
}

func typeURL(m proto.Message) string {
	return "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())
}
