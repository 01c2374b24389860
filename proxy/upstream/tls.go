package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// Handshaker secures a new upstream connection: the cluster's
// transport_socket (*tls.Client of proxy/transport/tls). alpn is what the
// pool would like offered when the socket has no alpn_protocols of its
// own. On failure conn is left for the caller to close.
type Handshaker interface {
	Handshake(ctx context.Context, conn net.Conn, alpn []string) (net.Conn, *streaminfo.TLS, error)
}

// TransportFailure is implemented by handshake errors that can say why,
// in Envoy's words, for %UPSTREAM_TRANSPORT_FAILURE_REASON%.
type TransportFailure interface {
	Reason() string
}

// Auto chooses HTTP/2 or HTTP/1.1 per endpoint by ALPN
// (HttpProtocolOptions.auto_config): the first connection offers both, and
// the endpoint's answer is the protocol of every later connection.
const Auto Protocol = HTTP2 + 1

// ALPN lists offered for each protocol when the transport socket
// configures none, as Envoy does.
var (
	alpnHTTP1 = []string{"http/1.1"}
	alpnHTTP2 = []string{"h2"}
	alpnAuto  = []string{"h2", "http/1.1"}
)

// DialSecure dials addr and, when the cluster has a transport socket, runs
// its handshake; connect_timeout covers both, as Envoy's connect timer
// runs until the transport is up. A failed handshake counts as a connect
// failure (upstream_cx_connect_fail, flag UF); its reason is recorded in
// the stream's info when ctx carries one.
func (d *Dialer) DialSecure(ctx context.Context, addr netip.AddrPort, host *HostStats, alpn []string) (net.Conn, *streaminfo.TLS, error) {
	conn, err := d.Dial(ctx, addr, host)
	if err != nil || d.TLS == nil {
		if err != nil {
			return nil, nil, err
		}
		return conn, nil, nil
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	conn.SetDeadline(conn.opened.Add(timeout))
	sc, sess, err := d.TLS.Handshake(ctx, conn, alpn)
	if err != nil {
		conn.Close()
		d.Stats.CxConnectFail.Inc()
		host.CxConnectFail.Add(1)
		var tf TransportFailure
		if errors.As(err, &tf) {
			if info := streaminfo.From(ctx); info != nil {
				info.UpstreamTransportFailureReason = tf.Reason()
			}
		}
		return nil, nil, failure.ErrConnectFailure.With(fmt.Errorf("upstream: %s: %w", addr, err))
	}
	conn.SetDeadline(time.Time{})
	return sc, sess, nil
}

// dial opens a connection for protocol proto (HTTP1 or HTTP2).
func (p *Pool) dial(req *http.Request, proto Protocol) (net.Conn, *streaminfo.TLS, error) {
	alpn := alpnHTTP1
	if proto == HTTP2 {
		alpn = alpnHTTP2
	}
	conn, sess, err := p.dialer.DialSecure(req.Context(), p.addr, p.Host, alpn)
	if err != nil {
		return nil, nil, err
	}
	if p.opts.Protocol == Auto && sess != nil && negotiated(sess) != proto {
		// The endpoint changed its mind since its protocol was learned:
		// learn again on the next request.
		conn.Close()
		p.auto.Store(0)
		return nil, nil, failure.ErrConnectFailure.With(fmt.Errorf("upstream: %s now negotiates %q", p.addr, sess.ALPN))
	}
	return conn, sess, nil
}

func negotiated(sess *streaminfo.TLS) Protocol {
	if sess != nil && sess.ALPN == "h2" {
		return HTTP2
	}
	return HTTP1
}

// protocol is the protocol req is sent with; for auto_config, the first
// request to an endpoint learns it with a connection that offers both,
// and that connection joins the pool.
func (p *Pool) protocol(req *http.Request) (Protocol, error) {
	if proto := p.ProtocolFor(req); proto != 0 {
		return proto, nil
	}
	p.learnMu.Lock()
	defer p.learnMu.Unlock()
	if proto := Protocol(p.auto.Load()); proto != 0 {
		return proto, nil
	}
	conn, sess, err := p.dialer.DialSecure(req.Context(), p.addr, p.Host, alpnAuto)
	if err != nil {
		return 0, err
	}
	proto := negotiated(sess)
	switch proto {
	case HTTP2:
		c, err := p.newH2(req.Context(), conn, sess)
		if err != nil {
			return 0, err
		}
		p.mu.Lock()
		p.h2 = append(p.h2, c)
		p.signalLocked()
		p.mu.Unlock()
	default:
		p.newH1(conn, sess).release(true)
	}
	p.auto.Store(uint32(proto))
	return proto, nil
}

// noteTLS records the upstream TLS session of the connection a request
// goes out on, for access logs.
func noteTLS(req *http.Request, sess *streaminfo.TLS) {
	if sess == nil {
		return
	}
	if info := streaminfo.From(req.Context()); info != nil {
		info.UpstreamTLS = sess
	}
}
