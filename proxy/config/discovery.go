package config

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// discoveryResponseFields are envoy.service.discovery.v3.DiscoveryResponse's
// fields in JSON, both spellings protojson accepts.
var discoveryResponseFields = map[string]bool{
	"version_info": true, "versionInfo": true, "resources": true, "canary": true,
	"type_url": true, "typeUrl": true, "nonce": true, "control_plane": true, "controlPlane": true,
	"resource_errors": true, "resourceErrors": true,
}

// DiscoveryResources decodes an xDS DiscoveryResponse in YAML or JSON (a
// file Envoy's path_config_source reads: SDS secrets, for instance) and
// returns its resources, which protojson resolves by their @type. name
// only labels errors.
//
// It does so without the Go package of envoy.service.discovery.v3, which
// also holds the xDS services' gRPC stubs and so links grpc-go into the
// proxy binary (see proxy/grpchealth for what that costs).
func DiscoveryResources(data []byte, name string) ([]*anypb.Any, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if doc.kind != jsonObject {
		return nil, fmt.Errorf("%s: a DiscoveryResponse is an object, not %s", name, doc.kind)
	}
	for _, k := range doc.keys {
		if !discoveryResponseFields[k] {
			return nil, fmt.Errorf("%s: unknown DiscoveryResponse field %q", name, k)
		}
	}
	list := doc.get("resources")
	if list == nil || list.kind == jsonNull {
		return nil, nil
	}
	if list.kind != jsonArray {
		return nil, fmt.Errorf("%s: resources is %s, not a list", name, list.kind)
	}
	out := make([]*anypb.Any, len(list.vals))
	for i, r := range list.vals {
		a := &anypb.Any{}
		if err := protojson.Unmarshal(appendJSON(nil, r), a); err != nil {
			return nil, fmt.Errorf("%s: resources[%d]: %w", name, i, err)
		}
		out[i] = a
	}
	return out, nil
}
