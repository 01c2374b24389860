package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestParseAccepts(t *testing.T) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		input string
		check func(t *testing.T, b *bootstrapv3.Bootstrap)
	}{
		{
			name:  "the full example using every supported field",
			input: string(full),
		},
		{
			name:  "the small base configuration",
			input: configWith(nil),
			check: func(t *testing.T, b *bootstrapv3.Bootstrap) {
				if got := b.GetStaticResources().GetClusters()[0].GetConnectTimeout().AsDuration().String(); got != "1s" {
					t.Errorf("connect_timeout = %s, want 1s", got)
				}
			},
		},
		{
			name:  "JSON names of fields (camelCase)",
			input: configWith(map[string]string{"CLUSTER": "dnsLookupFamily: V4_ONLY\nupstreamBindConfig: { sourceAddress: { address: 127.0.0.1, portValue: 0 } }"}),
			check: func(t *testing.T, b *bootstrapv3.Bootstrap) {
				if got := b.GetStaticResources().GetClusters()[0].GetDnsLookupFamily(); got != clusterv3.Cluster_V4_ONLY {
					t.Errorf("dns_lookup_family = %v, want V4_ONLY", got)
				}
			},
		},
		{
			name: "YAML anchors and merge keys",
			input: configWith(map[string]string{"CLUSTERS": `
- &tmpl
  name: template
  connect_timeout: 3s
  type: STRICT_DNS
- <<: *tmpl
  name: copy`}),
			check: func(t *testing.T, b *bootstrapv3.Bootstrap) {
				c := b.GetStaticResources().GetClusters()[2]
				if c.GetName() != "copy" || c.GetConnectTimeout().AsDuration().String() != "3s" || c.GetType() != clusterv3.Cluster_STRICT_DNS {
					t.Errorf("merged cluster = %v", c)
				}
			},
		},
		{
			name:  "routes to unknown clusters when validate_clusters is false",
			input: configWith(map[string]string{"ROUTE_CONFIG": "validate_clusters: false", "ROUTES": "- match: { prefix: /x }\n  route: { cluster: later }"}),
		},
		{
			name:  "YAML 1.2 scalars: yes is a string, 0x10 a number",
			input: configWith(map[string]string{"ROUTES": "- match: { prefix: /x, headers: [{ name: x-canary, exact_match: yes }] }\n  direct_response: { status: 0xC8 }"}),
			check: func(t *testing.T, b *bootstrapv3.Bootstrap) {
				d, _ := Dump(b)
				if !strings.Contains(string(d), `"exact_match": "yes"`) || !strings.Contains(string(d), `"status": 200`) {
					t.Errorf("scalars were not read as YAML 1.2:\n%s", d)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Parse([]byte(tt.input), "test.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := Validate(b); err != nil {
				t.Errorf("Validate of what Parse accepted: %v", err)
			}
			if tt.check != nil {
				tt.check(t, b)
			}
		})
	}
}

func TestParseReadsJSONAsWellAsYAML(t *testing.T) {
	want, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(js, "full.json")
	if err != nil {
		t.Fatalf("Parse(JSON): %v", err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("the JSON form decodes differently from the YAML form")
	}
}

func TestLoadReadsAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(path, []byte(configWith(nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Errorf("Load: %v", err)
	}
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("Load of a missing file: %v, want a config: error wrapping ErrNotExist", err)
	}
}

func TestProblemsCarryTheLineTheyAreOn(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []int
	}{
		{
			name:  "in YAML, at the key of the field",
			input: "admin:\n  address:\n    socket_address: { address: 127.0.0.1, port_value: 1 }\n  profile_path: /tmp\nbogus: 1\n",
			want:  []int{4, 5},
		},
		{
			name:  "in JSON, at the key of the field",
			input: "{\n  \"admin\": {\n    \"profile_path\": \"/tmp\"\n  },\n  \"bogus\": 1\n}\n",
			want:  []int{3, 5},
		},
		{
			name:  "for a rule checked after decoding",
			input: configWith(map[string]string{"ROUTES": "- match: { prefix: /x }\n  route: { cluster: nope }"}),
			want:  []int{lineContaining(configWith(map[string]string{"ROUTES": "- match: { prefix: /x }\n  route: { cluster: nope }"}), "cluster: nope")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.input), "test")
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse: %v", err)
			}
			var got []int
			for _, e := range errs {
				got = append(got, e.Line)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines %v, want %v (%v)", got, tt.want, err)
			}
		})
	}
}

func TestProblemsAreListedInDocumentOrder(t *testing.T) {
	in := configWith(map[string]string{
		"ROOT":    "bogus: 1",
		"HCM":     "codec_type: HTTP3",
		"ROUTES":  "- match: { prefix: /x }\n  route: { cluster: nope }",
		"CLUSTER": "lb_policy: MAGLEV\nhealth_checks: []\ndns_refresh_rate: 5",
	})
	_, err := Parse([]byte(in), "test")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 6 {
		t.Fatalf("want 6 problems, got %v", err)
	}
	if !slices.IsSortedFunc(errs, func(a, b *FieldError) int { return a.Line - b.Line }) {
		t.Errorf("problems are not in line order:\n%v", err)
	}
}

func TestValidateChecksABootstrapBuiltInCode(t *testing.T) {
	b := &bootstrapv3.Bootstrap{StaticResources: &bootstrapv3.Bootstrap_StaticResources{
		Clusters: []*clusterv3.Cluster{{
			Name:                          "a",
			ConnectTimeout:                durationpb.New(-1),
			LbPolicy:                      clusterv3.Cluster_RING_HASH,
			PerConnectionBufferLimitBytes: nil,
			RespectDnsTtl:                 true,
		}},
	}}
	got := problems(t, Validate(b))
	want := []string{
		"static_resources.clusters[0].lb_policy: lb_policy RING_HASH is not supported",
		"static_resources.clusters[0].respect_dns_ttl: respect_dns_ttl is not supported",
		"static_resources.clusters[0].connect_timeout: value must be greater than 0s",
	}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: got %s, want %s…", i, got[i], want[i])
		}
	}
}

func lineContaining(s, substr string) int {
	for i, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			return i + 1
		}
	}
	return 0
}

// TestExamplesLoad keeps the repository's example configurations valid.
func TestExamplesLoad(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) == 0 {
		t.Skip("no examples/*.yaml in this tree")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Errorf("Load(%s):\n%v", f, err)
			}
		})
	}
}
