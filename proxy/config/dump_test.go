package config

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestDumpMatchesGolden(t *testing.T) {
	b, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Dump(b)
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	const golden = "testdata/full.dump.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Dump differs from %s (run go test -update if the change is intended)", golden)
	}
}

func TestDumpIsAnEnvoyConfigDump(t *testing.T) {
	b, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	loaded := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	out, err := DumpAt(b, loaded)
	if err != nil {
		t.Fatalf("DumpAt: %v", err)
	}
	var cd adminv3.ConfigDump
	if err := protojson.Unmarshal(out, &cd); err != nil {
		t.Fatalf("the dump is not an admin.v3.ConfigDump: %v", err)
	}
	var (
		bootstrap adminv3.BootstrapConfigDump
		clusters  adminv3.ClustersConfigDump
		listeners adminv3.ListenersConfigDump
		routes    adminv3.RoutesConfigDump
	)
	if len(cd.GetConfigs()) != 4 {
		t.Fatalf("got %d configs, want bootstrap, clusters, listeners, routes", len(cd.GetConfigs()))
	}
	if err := cd.Configs[0].UnmarshalTo(&bootstrap); err != nil {
		t.Errorf("configs[0]: %v", err)
	}
	if err := cd.Configs[1].UnmarshalTo(&clusters); err != nil {
		t.Errorf("configs[1]: %v", err)
	}
	if err := cd.Configs[2].UnmarshalTo(&listeners); err != nil {
		t.Errorf("configs[2]: %v", err)
	}
	if err := cd.Configs[3].UnmarshalTo(&routes); err != nil {
		t.Errorf("configs[3]: %v", err)
	}
	if got, want := len(clusters.GetStaticClusters()), len(b.GetStaticResources().GetClusters()); got != want {
		t.Errorf("%d static clusters, want %d", got, want)
	}
	if got, want := len(listeners.GetStaticListeners()), len(b.GetStaticResources().GetListeners()); got != want {
		t.Errorf("%d static listeners, want %d", got, want)
	}
	if got := len(routes.GetStaticRouteConfigs()); got != 1 {
		t.Errorf("%d static route configs, want the 1 inline one", got)
	}
	if got := clusters.GetStaticClusters()[0].GetLastUpdated().AsTime(); !got.Equal(loaded) {
		t.Errorf("last_updated = %v, want %v", got, loaded)
	}
	if !strings.Contains(string(out), `"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"`) {
		t.Errorf("typed_configs are not resolved in the dump")
	}
}
