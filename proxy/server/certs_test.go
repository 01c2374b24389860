package server

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// The admin /certs page lists the certificates of the running listeners
// and clusters, with their SANs: the server wires one TLS registry through.
func TestAdminCertsListsTheRunningConfigsCertificates(t *testing.T) {
	b, err := config.Load("../../examples/mtls-b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b.Admin = nil // the test reads the handler directly
	s := New(Options{Load: func() (*bootstrapv3.Bootstrap, error) { return b, nil }})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := httptest.NewRecorder()
	s.Admin().ServeHTTP(rec, httptest.NewRequest("GET", "/certs", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `"cert_chain"`) || !strings.Contains(body, "spiffe://") {
		t.Fatalf("/certs answered %d:\n%s", rec.Code, body)
	}
}
