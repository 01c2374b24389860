package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// BenchmarkRoundTrip measures one request through the router to a real
// upstream on loopback, without a network hop on the downstream side: the
// router is called directly with a recorder, so the figure is the router,
// the pool and the upstream exchange.
func BenchmarkRoundTrip(b *testing.B) {
	for _, tt := range []struct {
		name string
		h2   bool
	}{{name: "HTTP1 upstream"}, {name: "HTTP2 upstream", h2: true}} {
		b.Run(tt.name, func(b *testing.B) {
			handler := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }
			var up string
			if tt.h2 {
				up = h2Upstream(b, handler)
			} else {
				up = h1Upstream(b, handler)
			}
			p := newProxy(b, staticCluster("bench", tt.h2, "", up), routeTo("bench", ""))
			req := httptest.NewRequest("GET", "http://bench.test/items?x=1", nil)
			rt := p.table.Match(req)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r := req.Clone(req.Context())
				info := &streaminfo.Info{Route: rt, Request: r}
				w := httptest.NewRecorder()
				p.router.ServeHTTP(w, r.WithContext(streaminfo.With(r.Context(), info)))
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
