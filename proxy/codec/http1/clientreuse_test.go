package http1

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAResponseHeaderMapIsReusedOnlyWhenAsked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-"+r.URL.Query().Get("name"), "value of "+r.URL.Query().Get("name"))
	}))
	defer srv.Close()
	tests := []struct {
		name  string
		reuse bool
	}{
		{name: "with ReuseResponseHeader the next response clears the map and keeps the values", reuse: true},
		{name: "without it each response has a map of its own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel := newReleases()
			cc := NewClientConn(dial(t, srv.Listener.Addr()), &ClientConfig{Release: rel.release, ReuseResponseHeader: tt.reuse})
			get := func(name string) http.Header {
				req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://svc.test/?name="+name, nil)
				resp, err := cc.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				readAll(t, resp.Body)
				resp.Body.Close()
				if !rel.wait(t) {
					t.Fatal("the connection was not reusable")
				}
				return resp.Header
			}
			first := get("First")
			firstValue := first["X-First"]
			second := get("Second")
			if got := second.Get("X-Second"); got != "value of Second" {
				t.Errorf("second response's X-Second = %q", got)
			}
			if _, ok := second["X-First"]; ok {
				t.Error("the second response's header holds the first response's field")
			}
			if len(firstValue) != 1 || firstValue[0] != "value of First" {
				t.Errorf("a value slice of the first response changed to %q", firstValue)
			}
			_, firstKept := first["X-First"]
			if firstKept == tt.reuse {
				t.Errorf("the first response's map kept its field: %v, want %v", firstKept, !tt.reuse)
			}
		})
	}
}
