package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Dump renders b as Envoy's /config_dump does: an admin.v3.ConfigDump with
// the bootstrap, the static clusters, the static listeners and the inline
// route configurations of their HTTP connection managers, typed_configs
// resolved, field names as in the proto, indented by two spaces.
func Dump(b *bootstrapv3.Bootstrap) ([]byte, error) {
	return DumpAt(b, time.Time{})
}

// DumpAt is Dump with each entry's last_updated set to loaded (when the
// configuration was applied); the zero time leaves last_updated out.
func DumpAt(b *bootstrapv3.Bootstrap, loaded time.Time) ([]byte, error) {
	var at *timestamppb.Timestamp
	if !loaded.IsZero() {
		at = timestamppb.New(loaded)
	}
	var (
		clusters  = &adminv3.ClustersConfigDump{}
		listeners = &adminv3.ListenersConfigDump{}
		routes    = &adminv3.RoutesConfigDump{}
	)
	for _, c := range b.GetStaticResources().GetClusters() {
		a, err := anypb.New(c)
		if err != nil {
			return nil, fmt.Errorf("config: dump cluster %q: %w", c.GetName(), err)
		}
		clusters.StaticClusters = append(clusters.StaticClusters, &adminv3.ClustersConfigDump_StaticCluster{Cluster: a, LastUpdated: at})
	}
	for _, l := range b.GetStaticResources().GetListeners() {
		a, err := anypb.New(l)
		if err != nil {
			return nil, fmt.Errorf("config: dump listener %q: %w", l.GetName(), err)
		}
		listeners.StaticListeners = append(listeners.StaticListeners, &adminv3.ListenersConfigDump_StaticListener{Listener: a, LastUpdated: at})
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				h, ok := unpack(f.GetTypedConfig()).(*hcmv3.HttpConnectionManager)
				if !ok || h.GetRouteConfig() == nil {
					continue
				}
				a, err := anypb.New(h.GetRouteConfig())
				if err != nil {
					return nil, fmt.Errorf("config: dump route config %q: %w", h.GetRouteConfig().GetName(), err)
				}
				routes.StaticRouteConfigs = append(routes.StaticRouteConfigs, &adminv3.RoutesConfigDump_StaticRouteConfig{RouteConfig: a, LastUpdated: at})
			}
		}
	}
	var configs []*anypb.Any
	for _, m := range []proto.Message{&adminv3.BootstrapConfigDump{Bootstrap: b, LastUpdated: at}, clusters, listeners, routes} {
		a, err := anypb.New(m)
		if err != nil {
			return nil, fmt.Errorf("config: dump: %w", err)
		}
		configs = append(configs, a)
	}
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(&adminv3.ConfigDump{Configs: configs})
	if err != nil {
		return nil, fmt.Errorf("config: dump: %w", err)
	}
	// protojson varies its spacing on purpose; indent it ourselves so that
	// the output is stable.
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("config: dump: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
