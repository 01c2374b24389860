package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

func TestARequestWhoseClusterIsReplacedBeforeItIsSentGoesToTheNewCluster(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := "HTTP/1.1 upstream"
		if h2 {
			name = "HTTP/2 upstream"
		}
		t.Run(name, func(t *testing.T) {
			handler := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }
			be := h1Upstream(t, handler)
			if h2 {
				be = h2Upstream(t, handler)
			}
			p := newProxy(t, staticCluster("backend", h2, "", be), routeTo("backend", ""))
			stale := p.clusters.Get("backend")
			// A reload changes the cluster: the old one's pools drain and
			// refuse new requests.
			if err := p.clusters.Update(decodeClusters(t, staticCluster("backend", h2, "connect_timeout: 2s", be)), "clusters"); err != nil {
				t.Fatal(err)
			}
			if p.clusters.Get("backend") == stale {
				t.Fatal("the update kept the cluster")
			}

			// The request picked the stale cluster just before the reload.
			req := httptest.NewRequest("GET", "/", nil)
			rte := p.table.Match(req)
			info := &streaminfo.Info{Start: time.Now(), Request: req, Route: rte}
			req = req.WithContext(streaminfo.With(req.Context(), info))
			rec := httptest.NewRecorder()
			p.router.forwardTo(rec, req, info, rte, rte.Target(req), stale)
			if rec.Code != 200 || rec.Body.String() != "ok" {
				t.Fatalf("got %d %q (flags %s), want 200 ok from the new cluster", rec.Code, rec.Body, info.Flags)
			}
			if info.Attempts != 1 {
				t.Errorf("%d attempts recorded, want 1", info.Attempts)
			}
		})
	}
}
