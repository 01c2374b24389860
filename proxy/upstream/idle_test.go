package upstream

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// idleConn is the pool's one idle HTTP/1.1 connection.
func idleConn(t *testing.T, p *Pool) *h1Conn {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) != 1 {
		t.Fatalf("%d idle connections, want 1", len(p.idle))
	}
	return p.idle[0]
}

func TestTheIdleTimerClosesAConnectionOnlyOnceItHasBeenIdleLongEnough(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(ok))
	t.Cleanup(srv.Close)
	p, st := newTestPool(t, srv.Listener.Addr().String(), Options{Protocol: HTTP1, IdleTimeout: time.Hour}, 1024)
	if _, err := roundTrip(t, p, "/"); err != nil {
		t.Fatal(err)
	}
	c := idleConn(t, p)

	// The timer armed for an earlier idle period fires while the
	// connection has been idle for less than the timeout: it waits on.
	c.idleTimeout()
	if got := idleConn(t, p); got != c || st.CxIdleTimeout.Value() != 0 {
		t.Fatalf("a connection idle for less than the timeout was closed (idle_timeout %d)", st.CxIdleTimeout.Value())
	}
	p.mu.Lock()
	armed := c.armed
	c.idleSince -= int64(2 * time.Hour) // as if idle for two hours
	p.mu.Unlock()
	if !armed {
		t.Error("the timer was not armed again for the rest of the timeout")
	}

	c.idleTimeout()
	if st.CxIdleTimeout.Value() != 1 || st.CxActive.Value() != 0 {
		t.Errorf("idle_timeout %d, cx_active %d after the timeout, want 1 and 0", st.CxIdleTimeout.Value(), st.CxActive.Value())
	}
	p.mu.Lock()
	n := len(p.idle)
	p.mu.Unlock()
	if n != 0 {
		t.Errorf("%d idle connections left, want 0", n)
	}
}

func TestTheIdleTimerLeavesAConnectionInUseAlone(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(ok))
	t.Cleanup(srv.Close)
	p, st := newTestPool(t, srv.Listener.Addr().String(), Options{Protocol: HTTP1, IdleTimeout: time.Hour}, 1024)
	if _, err := roundTrip(t, p, "/"); err != nil {
		t.Fatal(err)
	}
	c := idleConn(t, p)
	req, _ := http.NewRequest("GET", "http://"+p.Addr().String()+"/", nil)
	taken, err := p.getH1(req, false)
	if err != nil || taken != c {
		t.Fatalf("getH1 = %p, %v; want the idle connection", taken, err)
	}
	c.idleTimeout() // the timer armed for its idle period fires now
	if st.CxIdleTimeout.Value() != 0 || st.CxActive.Value() != 1 {
		t.Errorf("idle_timeout %d, cx_active %d for a connection in use, want 0 and 1", st.CxIdleTimeout.Value(), st.CxActive.Value())
	}
	c.close()
}
