package config

import (
	"errors"
	"os"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
)

// FuzzParse checks that no input makes Parse panic or hang, that every
// failure is a config.Errors, and that whatever Parse accepts also passes
// Validate and can be dumped and read back.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/full.yaml", "../../examples/front-proxy.yaml", "../../examples/tcp-proxy.yaml"} {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	if b, err := Load("testdata/full.yaml"); err == nil {
		if js, err := protojson.Marshal(b); err == nil {
			f.Add(js)
		}
	}
	f.Add([]byte(configWith(nil)))
	for _, parts := range []map[string]string{
		{"CLUSTER": "lb_polcy: RANDOM\noutlier_detection: {}"},
		{"FILTERS": "- name: envoy.filters.http.lua\n  typed_config: { \"@type\": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua }"},
		{"ROUTES": "- match: { prefix: /a, path: /a }\n  route: { weighted_clusters: { clusters: [{ name: x, weight: 0 }] } }"},
		{"CLUSTERS": "- &t { name: a, type: ORIGINAL_DST }\n- { <<: *t, name: b }"},
	} {
		f.Add([]byte(configWith(parts)))
	}
	f.Add([]byte("{\"admin\": {\"address\": null}, \"staticResources\": {\"clusters\": [1, {}]}}"))
	f.Add([]byte("a: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse failed with %T %v, want a non-empty config.Errors", err, err)
			}
			return
		}
		if err := Validate(b); err != nil {
			t.Fatalf("Parse accepted what Validate rejects: %v", err)
		}
		if _, err := Dump(b); err != nil {
			t.Fatalf("Dump of an accepted config: %v", err)
		}
	})
}
