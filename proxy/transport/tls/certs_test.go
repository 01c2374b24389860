package tls

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestCertsListsWhatEachLiveContextPresentsAndTrusts(t *testing.T) {
	p := newPKI(t)
	reg := NewRegistry(nil, nil)
	srv, err := reg.TranslateDownstream(socket(t, p.mtlsServer()), "transport_socket")
	if err != nil {
		t.Fatal(err)
	}
	data, err := reg.CertsJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Certificates []struct {
			CACert []struct {
				Path string `json:"path"`
			} `json:"ca_cert"`
			CertChain []struct {
				Path                string              `json:"path"`
				SerialNumber        string              `json:"serial_number"`
				DaysUntilExpiration string              `json:"days_until_expiration"`
				ExpirationTime      string              `json:"expiration_time"`
				SubjectAltNames     []map[string]string `json:"subject_alt_names"`
			} `json:"cert_chain"`
		} `json:"certificates"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if len(doc.Certificates) != 1 {
		t.Fatalf("%d contexts listed, want 1:\n%s", len(doc.Certificates), data)
	}
	c := doc.Certificates[0]
	if len(c.CACert) != 1 || !strings.HasSuffix(c.CACert[0].Path, "ca.pem") {
		t.Errorf("ca_cert = %+v", c.CACert)
	}
	if len(c.CertChain) != 1 || !strings.HasSuffix(c.CertChain[0].Path, "server.pem") || c.CertChain[0].ExpirationTime == "" {
		t.Fatalf("cert_chain = %+v", c.CertChain)
	}
	sans := c.CertChain[0].SubjectAltNames
	if len(sans) != 2 || sans[0]["uri"] != serverID || sans[1]["dns"] != "backend.default.svc" {
		t.Errorf("subject_alt_names = %v", sans)
	}
	runtime.KeepAlive(srv)

	t.Run("a context no longer in use is dropped", func(t *testing.T) {
		srv = nil
		for range 5 {
			runtime.GC()
			if len(reg.Certificates(time.Now()).GetCertificates()) == 0 {
				return
			}
		}
		t.Error("the context is still listed after it was released")
	})
}
