package cluster

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/outrider-mesh/outrider/proxy/upstream"
)

func TestAnEndpointGetsItsPoolWithItsFirstRequest(t *testing.T) {
	m, _ := newManager(t, `
- name: backend
  connect_timeout: 1s
  load_assignment:
    cluster_name: backend
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
`)
	h, err := m.Get("backend").Pick(nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.pool.Load() != nil {
		t.Fatal("an endpoint that carried no request holds a pool")
	}
	p := h.Pool()
	if p == nil || h.Pool() != p {
		t.Fatal("Pool did not make one pool and keep it")
	}
	if p.Host != h.Stats() {
		t.Error("the pool counts into other stats than the endpoint's")
	}
}

func TestAPoolMadeAfterItsEndpointLeftTakesNoRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	addr := strings.Split(strings.TrimPrefix(srv.URL, "http://"), ":")
	m, _ := newManager(t, `
- name: backend
  connect_timeout: 1s
  load_assignment:
    cluster_name: backend
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: `+addr[0]+`, port_value: `+addr[1]+` } } }
`)
	h, err := m.Get("backend").Pick(nil)
	if err != nil {
		t.Fatal(err)
	}
	h.drain() // the endpoint left between a request's pick and its send
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := h.Pool().RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a request went out through the pool of an endpoint that had left")
	}
	if !errors.Is(err, upstream.ErrPoolClosed) {
		t.Errorf("error = %v, want ErrPoolClosed", err)
	}
}
