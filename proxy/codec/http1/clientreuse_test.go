package http1

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAResponseHeaderMapIsReusedOnlyWhenAsked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-"+r.URL.Query().Get("name"), "value of "+r.URL.Query().Get("name"))
		w.Write([]byte("a body: the header is the caller's until it ends"))
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

// A response without a body ends its exchange before the caller sees it,
// and the connection may serve the next request at once.
func TestAResponseWithoutABodyKeepsItsHeaderWhileTheConnectionIsReused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Name", r.URL.Query().Get("name"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	rel := newReleases()
	cc := NewClientConn(dial(t, srv.Listener.Addr()), &ClientConfig{Release: rel.release, ReuseResponseHeader: true})
	get := func(name string) *http.Response {
		req, _ := http.NewRequestWithContext(testContext(t), "GET", "http://svc.test/?name="+name, nil)
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if !rel.wait(t) {
			t.Fatal("the connection was not reusable")
		}
		return resp
	}
	first := get("first")
	second := get("second") // the connection was released before first's header was read
	if got := first.Header.Get("X-Name"); got != "first" {
		t.Errorf("the first response's X-Name = %q after the next response, want first", got)
	}
	if got := second.Header.Get("X-Name"); got != "second" {
		t.Errorf("the second response's X-Name = %q", got)
	}
}
