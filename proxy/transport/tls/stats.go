package tls

import (
	cryptotls "crypto/tls"
	"sync"
	"sync/atomic"

	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Stats are Envoy's ssl.* stats of one listener or one cluster
// (listener.<address>.ssl.handshake, cluster.<name>.ssl.fail_verify_san, …).
type Stats struct {
	Handshake        *stats.Counter // handshakes completed
	ConnectionError  *stats.Counter // handshakes failed, whatever the reason
	NoCertificate    *stats.Counter // completed without a peer certificate
	SessionReused    *stats.Counter
	FailVerifyNoCert *stats.Counter // a required certificate was not sent
	FailVerifyError  *stats.Counter // the peer's chain did not verify (other CA, expired)
	FailVerifySAN    *stats.Counter // no SAN matcher accepted the certificate

	scope stats.Scope
	mu    sync.Mutex                                // serialises creation of by-name stats
	named atomic.Pointer[map[string]*stats.Counter] // ciphers.*, versions.*, curves.*: copied on write
}

// NewStats creates (or finds again after a reload) the ssl.* stats under
// parent, a listener scope (stats.ListenerScope) or a cluster scope
// (stats.ClusterScope).
func NewStats(parent stats.Scope) *Stats {
	sc := parent.Scope("ssl")
	st := &Stats{
		Handshake:        sc.Counter("handshake"),
		ConnectionError:  sc.Counter("connection_error"),
		NoCertificate:    sc.Counter("no_certificate"),
		SessionReused:    sc.Counter("session_reused"),
		FailVerifyNoCert: sc.Counter("fail_verify_no_cert"),
		FailVerifyError:  sc.Counter("fail_verify_error"),
		FailVerifySAN:    sc.Counter("fail_verify_san"),
		scope:            sc,
	}
	st.named.Store(&map[string]*stats.Counter{})
	return st
}

// succeeded counts a completed handshake.
func (st *Stats) succeeded(cs *cryptotls.ConnectionState) {
	if st == nil {
		return
	}
	st.Handshake.Inc()
	if len(cs.PeerCertificates) == 0 {
		st.NoCertificate.Inc()
	}
	if cs.DidResume {
		st.SessionReused.Inc()
	}
	st.counter("versions." + versionName(cs.Version)).Inc()
	st.counter("ciphers." + cipherName(cs.CipherSuite)).Inc()
	if cs.CurveID != 0 {
		st.counter("curves." + curveName(cs.CurveID)).Inc()
	}
}

// failed counts a failed handshake by its kind.
func (st *Stats) failed(he *HandshakeError) {
	if st == nil {
		return
	}
	st.ConnectionError.Inc()
	switch he.Kind {
	case FailNoCert:
		st.FailVerifyNoCert.Inc()
	case FailVerify:
		st.FailVerifyError.Inc()
	case FailSAN:
		st.FailVerifySAN.Inc()
	}
}

// counter returns a by-name counter. Versions, ciphers and curves are a
// small closed set, so each is created once per scope on first use; later
// handshakes find it without a lock.
func (st *Stats) counter(name string) *stats.Counter {
	if c, ok := (*st.named.Load())[name]; ok {
		return c
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	old := *st.named.Load()
	if c, ok := old[name]; ok {
		return c
	}
	c := st.scope.Counter(name)
	next := make(map[string]*stats.Counter, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[name] = c
	st.named.Store(&next)
	return c
}
