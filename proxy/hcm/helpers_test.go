package hcm

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/httpfilter"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/listener/network/networktest"
	"github.com/outrider-mesh/outrider/proxy/stats"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// upstreamDate is the Date the echo filter answers "/dated" with.
const upstreamDate = "Sun, 06 Nov 1994 08:49:37 GMT"

// echoFilter stands in for the router: it answers with facts about the
// request. "/block" waits until the request context ends or release is
// closed; "/slowbody" reads the body to the end first.
type echoFilter struct {
	release chan struct{}
	started chan struct{}
}

func (e *echoFilter) factory(proto.Message, *httpfilter.Env, config.Path) (httpfilter.Filter, error) {
	return func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := streaminfo.From(r.Context())
			switch r.URL.Path {
			case "/block":
				if e.started != nil {
					e.started <- struct{}{}
				}
				select {
				case <-r.Context().Done():
					return
				case <-e.release:
				}
			case "/body":
				io.Copy(io.Discard, r.Body)
			case "/dated":
				w.Header().Set("Date", upstreamDate)
			case "/big":
				// More than a client with no window can take: the writes
				// wait for it until the stream times out.
				w.WriteHeader(http.StatusOK)
				chunk := make([]byte, 16<<10)
				for range 64 {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
				return
			}
			w.Header().Set("Server", "upstream")
			w.Header().Set("X-Seen-Request-Id", r.Header.Get("X-Request-Id"))
			w.Header().Set("X-Seen-Xff", r.Header.Get("X-Forwarded-For"))
			w.Header().Set("X-Seen-Proto", r.Header.Get("X-Forwarded-Proto"))
			w.Header().Set("X-Route", info.RouteName)
			fmt.Fprintf(w, "%s %s", info.Protocol, r.URL.Path)
		})
	}, nil
}

func routerFilter(t testing.TB) *hcmv3.HttpFilter {
	a, err := anypb.New(&routerv3.Router{})
	if err != nil {
		t.Fatal(err)
	}
	return &hcmv3.HttpFilter{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}
}

func routes() *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: "local", VirtualHosts: []*routev3.VirtualHost{{
		Name: "all", Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Name:   "everything",
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "backend"}}},
		}},
	}}}
}

// baseConfig is an AUTO connection manager with the echo filter as router.
func baseConfig(t testing.TB) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{
		StatPrefix:     "test",
		HttpFilters:    []*hcmv3.HttpFilter{routerFilter(t)},
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: routes()},
	}
}

type harness struct {
	cm    *ConnectionManager
	echo  *echoFilter
	store *stats.Store
	addr  string
}

func newHarness(t testing.TB, pb *hcmv3.HttpConnectionManager) *harness {
	t.Helper()
	h := &harness{echo: &echoFilter{release: make(chan struct{})}, store: stats.NewStore()}
	env := &network.Env{
		Stats:       h.store,
		DrainTime:   time.Second,
		HTTPFilters: map[string]httpfilter.Factory{RouterTypeURL: h.echo.factory},
	}
	cm, err := Translate(pb, env, "typed_config")
	if err != nil {
		t.Fatal(err)
	}
	h.cm = cm
	h.addr = networktest.Serve(t, cm)
	return h
}

func (h *harness) counter(name string) uint64 {
	var v uint64
	h.store.Each(func(c *stats.Counter) {
		if c.Name == "http.test."+name {
			v = c.Value()
		}
	}, nil, nil)
	return v
}

type hcmHCM = hcmv3.HttpConnectionManager

func rdsSpecifier() *hcmv3.HttpConnectionManager_Rds {
	return &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: "x"}}
}

func upgrade(kind string) []*hcmv3.HttpConnectionManager_UpgradeConfig {
	return []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: kind}}
}

type echoEnv struct{ network.Env }

// testEnvWithEcho is an env whose router is h's echo filter (a new one
// when h is nil).
func testEnvWithEcho(h *harness) *echoEnv {
	e := &echoFilter{release: make(chan struct{})}
	store := stats.NewStore()
	if h != nil {
		e, store = h.echo, h.store
	}
	return &echoEnv{network.Env{Stats: store, HTTPFilters: map[string]httpfilter.Factory{RouterTypeURL: e.factory}}}
}

func wrapBool(v bool) *wrapperspb.BoolValue { return wrapperspb.Bool(v) }

func wrapU32(v uint32) *wrapperspb.UInt32Value { return wrapperspb.UInt32(v) }
