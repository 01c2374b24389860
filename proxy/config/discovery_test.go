package config

import (
	"strings"
	"testing"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

const sdsFile = `
version_info: "1"
resources:
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: default
  tls_certificate:
    certificate_chain: { filename: /etc/certs/cert.pem }
    private_key: { filename: /etc/certs/key.pem }
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: ROOTCA
  validation_context:
    trusted_ca: { filename: /etc/certs/root.pem }
`

func TestDiscoveryResourcesDecodesAsTheDiscoveryResponseType(t *testing.T) {
	js, err := yaml.YAMLToJSON([]byte(sdsFile))
	if err != nil {
		t.Fatal(err)
	}
	var want discoveryv3.DiscoveryResponse
	if err := protojson.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}
	for _, in := range []struct{ name, data string }{{"yaml", sdsFile}, {"json", string(js)}} {
		t.Run(in.name, func(t *testing.T) {
			got, err := DiscoveryResources([]byte(in.data), "sds.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want.GetResources()) {
				t.Fatalf("%d resources, want %d", len(got), len(want.GetResources()))
			}
			for i := range got {
				var a, b tlsv3.Secret
				if err := got[i].UnmarshalTo(&a); err != nil {
					t.Fatal(err)
				}
				if err := want.GetResources()[i].UnmarshalTo(&b); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(&a, &b) {
					t.Errorf("resources[%d] = %v, want %v", i, &a, &b)
				}
			}
		})
	}
}

func TestDiscoveryResourcesRejectsWhatTheResponseTypeRejects(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{name: "an unknown field", data: "resources: []\nversion: 1\n", want: `unknown DiscoveryResponse field "version"`},
		{name: "not an object", data: "- a\n", want: "is an object"},
		{name: "resources not a list", data: "resources: 3\n", want: "not a list"},
		{name: "a resource of an unknown type", data: "resources:\n- \"@type\": type.googleapis.com/no.Such\n", want: "resources[0]"},
		{name: "a resource with an unknown field", data: "resources:\n- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n  nme: x\n", want: "resources[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DiscoveryResources([]byte(tt.data), "sds.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
