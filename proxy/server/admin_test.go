package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// configDumpTimes returns the last_updated of every entry of /config_dump
// that has one.
func configDumpTimes(t *testing.T, s *Server) []time.Time {
	t.Helper()
	ap, ok := s.AdminAddr()
	if !ok {
		t.Fatal("no admin address")
	}
	resp, err := http.Get("http://" + ap.String() + "/config_dump")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var dump struct {
		Configs []struct {
			LastUpdated    *time.Time `json:"last_updated"`
			StaticClusters []struct {
				LastUpdated *time.Time `json:"last_updated"`
			} `json:"static_clusters"`
			StaticListeners []struct {
				LastUpdated *time.Time `json:"last_updated"`
			} `json:"static_listeners"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(body, &dump); err != nil {
		t.Fatalf("/config_dump: %v\n%s", err, body)
	}
	var out []time.Time
	for _, c := range dump.Configs {
		if c.LastUpdated != nil {
			out = append(out, *c.LastUpdated)
		}
		for _, sc := range c.StaticClusters {
			if sc.LastUpdated != nil {
				out = append(out, *sc.LastUpdated)
			}
		}
		for _, sl := range c.StaticListeners {
			if sl.LastUpdated != nil {
				out = append(out, *sl.LastUpdated)
			}
		}
	}
	return out
}

func TestConfigDumpSaysWhenTheRunningConfigWasLoaded(t *testing.T) {
	be := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {})
	b, err := config.Parse([]byte("admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}\n"+
		httpProxyConfig(`              - match: {prefix: "/"}
                route: {cluster: backend}`, staticCluster("backend", "", be))), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Load: func() (*bootstrapv3.Bootstrap, error) { return b, nil }, DrainTime: time.Second})
	before := time.Now()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	started := time.Now()

	times := configDumpTimes(t, s)
	if len(times) != 3 {
		t.Fatalf("%d entries carry last_updated, want the bootstrap, the cluster and the listener", len(times))
	}
	for _, at := range times {
		if at.Before(before) || at.After(started) {
			t.Errorf("last_updated %v is not within the start (%v to %v)", at, before, started)
		}
	}

	reloadedFrom := time.Now()
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, at := range configDumpTimes(t, s) {
		if at.Before(reloadedFrom) {
			t.Errorf("after a reload last_updated is %v, before the reload at %v", at, reloadedFrom)
		}
	}
}

// TestTheTranslatorsAcceptEverySupportedField keeps the allowlist and the
// translators in step: config/testdata/full.yaml uses every field the
// allowlist accepts, so every field must translate. Only its TLS files,
// which name paths of a real pod, may be missing here.
func TestTheTranslatorsAcceptEverySupportedField(t *testing.T) {
	b, err := config.Load("../config/testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var errs config.Errors
	if err := Validate(b); err != nil && !errors.As(err, &errs) {
		t.Fatalf("Validate: %v", err)
	}
	for _, line := range strings.Split(errs.Error(), "\n") {
		if line != "" && !strings.Contains(line, ".transport_socket.") {
			t.Errorf("%s", line)
		}
	}
}
