// Package router is envoy.filters.http.router, the last HTTP filter: it
// takes the route the connection manager matched, answers direct responses
// and redirects, or picks a cluster and an endpoint and forwards the
// request through the endpoint's connection pool, with Envoy's timeouts,
// retries, header handling, response flags and cluster stats, streaming
// bodies and trailers both ways. Websocket upgrades are proxied when the
// connection manager allows them (streaminfo.Info.Upgrade).
package router

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/httpfilter"
	"github.com/outrider-mesh/outrider/proxy/route"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// TypeURL is the router's typed_config type.
const TypeURL = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"

// Router is the terminal handler. It is immutable once built.
type Router struct {
	clusters *cluster.Manager
	// suppressEnvoyHeaders drops x-envoy-upstream-service-time and
	// x-envoy-expected-rq-timeout-ms (suppress_envoy_headers).
	suppressEnvoyHeaders bool
	// respectExpectedTimeout takes the route timeout from a downstream
	// x-envoy-expected-rq-timeout-ms (respect_expected_rq_timeout).
	respectExpectedTimeout bool
}

var _ httpfilter.Factory = Factory

// Factory builds the router from its typed config. The router ignores next:
// it is the end of the chain.
func Factory(cfg proto.Message, env *httpfilter.Env, p config.Path) (httpfilter.Filter, error) {
	pb, ok := cfg.(*routerv3.Router)
	if !ok && cfg != nil {
		var errs config.Errors
		errs.Addf(p, "router: config is %T, want %s", cfg, TypeURL)
		return nil, errs
	}
	var errs config.Errors
	if pb != nil {
		pb.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			switch name := fd.Name(); name {
			case "dynamic_stats", "suppress_envoy_headers", "respect_expected_rq_timeout":
			default:
				errs.Addf(p.Field(string(name)), "router: %s is not supported", name)
			}
			return true
		})
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	rt := New(env.Clusters)
	rt.suppressEnvoyHeaders = pb.GetSuppressEnvoyHeaders()
	rt.respectExpectedTimeout = pb.GetRespectExpectedRqTimeout()
	return func(http.Handler) http.Handler { return rt }, nil
}

// New returns a router over clusters with Envoy's default settings.
func New(clusters *cluster.Manager) *Router {
	return &Router{clusters: clusters}
}

// ServeHTTP routes one request. The request's context must carry a
// streaminfo.Info whose Route is the matched *route.Route (nil: 404 NR).
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := streaminfo.From(r.Context())
	if info == nil {
		info = &streaminfo.Info{Start: time.Now(), Request: r}
	}
	rte, _ := info.Route.(*route.Route)
	if rte == nil {
		localReply(w, r, info, failure.ErrNoRoute)
		return
	}
	switch rte.Action {
	case route.Respond:
		rte.ResponseHeaders.Apply(w.Header(), info)
		d := rte.Direct
		if len(d.Body) > 0 {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(d.Body)))
		}
		info.ResponseCode = d.Status
		info.ResponseCodeDetails = "direct_response"
		w.WriteHeader(d.Status)
		w.Write(d.Body)
	case route.Redirect:
		rte.ResponseHeaders.Apply(w.Header(), info)
		w.Header().Set("Location", rte.RedirectLocation(r))
		info.ResponseCode = rte.Redirect.Status
		info.ResponseCodeDetails = "direct_response"
		w.WriteHeader(rte.Redirect.Status)
	default:
		rt.forward(w, r, info, rte)
	}
}

// localReply answers with err's status, body and flags (failure.Reply). A
// gRPC request gets a trailers-only gRPC answer, as Envoy's local replies
// do, so that clients see a gRPC status instead of an HTTP error.
func localReply(w http.ResponseWriter, r *http.Request, info *streaminfo.Info, err error) {
	status, flags, body := failure.Reply(err)
	info.AddFlag(flags)
	var fe *failure.Error
	if errors.As(err, &fe) {
		info.ResponseCodeDetails = fe.Details
	}
	h := w.Header()
	if isGRPC(r) {
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", grpcStatus(status))
		if body != "" {
			h.Set("Grpc-Message", body)
		}
		info.ResponseCode = http.StatusOK
		w.WriteHeader(http.StatusOK)
		return
	}
	if body != "" {
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	info.ResponseCode = status
	w.WriteHeader(status)
	w.Write([]byte(body))
}

func isGRPC(r *http.Request) bool {
	ct := r.Header["Content-Type"]
	return len(ct) > 0 && len(ct[0]) >= 16 && ct[0][:16] == "application/grpc"
}

// grpcStatus is Envoy's HTTP-to-gRPC status mapping for local replies.
func grpcStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "13" // INTERNAL
	case http.StatusUnauthorized:
		return "16" // UNAUTHENTICATED
	case http.StatusForbidden:
		return "7" // PERMISSION_DENIED
	case http.StatusNotFound:
		return "12" // UNIMPLEMENTED
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return "14" // UNAVAILABLE
	}
	return "2" // UNKNOWN
}
