package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/outrider-mesh/outrider/proxy/codec/http1"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

type h1Conn struct {
	p        *Pool
	conn     net.Conn // *Conn, or the TLS connection over it
	tls      *streaminfo.TLS
	cc       *http1.ClientConn
	requests uint32
	// The idle timeout's timer stays armed while the connection is used
	// and idle in turn; when it fires it closes the connection only if it
	// has been idle long enough, and otherwise fires again later, so that
	// a request neither stops nor resets it. idleSince and armed are
	// guarded by p.mu; idleSince is 0 while the connection is in use.
	timer     *time.Timer
	idleSince int64 // monotime
	armed     bool
}

func (p *Pool) roundTripH1(req *http.Request) (*http.Response, error) {
	req = p.headerCase(req)
	fresh := false
	for {
		c, err := p.getH1(req, fresh)
		if err != nil {
			return nil, err
		}
		c.requests++
		noteTLS(req, c.tls)
		resp, err := c.cc.RoundTrip(req)
		if err == nil {
			return resp, nil
		}
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, fmt.Errorf("upstream: %w", ctxErr)
		}
		if !fresh && c.requests > 1 && (req.Body == nil || req.Body == http.NoBody) &&
			errors.Is(err, http1.ErrClosedBeforeResponse) {
			// A kept-alive connection the server closed while it sat idle:
			// the request never reached it. Send it once more on a new
			// connection, as net/http's Transport does.
			fresh = true
			continue
		}
		return nil, p.h1Error(err)
	}
}

// h1Error maps an error of the HTTP/1 codec (docs/http1.md, "Client
// side") to the failure it means for the proxy. The codec reports a
// failure to read the downstream request body as a *RequestBodyError: the
// client is at fault, not the upstream, so it is never retried.
func (p *Pool) h1Error(err error) error {
	var (
		be *http1.RequestBodyError
		pe *http1.ProtocolError
	)
	switch {
	case errors.As(err, &be):
		if errors.As(be.Err, &pe) {
			return failure.ErrDownstreamProtocol.With(err)
		}
		return failure.ErrDownstreamDisconnect.With(err)
	case errors.As(err, &pe):
		p.stats.CxProtocolError.Inc()
		return failure.ErrUpstreamProtocol.With(err)
	}
	return failure.ErrUpstreamTermination.With(err)
}

// h1BodyError maps the error of an HTTP/1 response body's Read. Context
// errors pass through: the router knows which deadline or client ended the
// request.
func (p *Pool) h1BodyError(err error) error {
	if err == io.EOF || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return p.h1Error(err)
}

// getH1 takes an idle connection (unless fresh), or dials one, or waits
// for one to be returned when max_connections is reached.
func (p *Pool) getH1(req *http.Request, fresh bool) (*h1Conn, error) {
	ctx := req.Context()
	ticket := pendingTicket{p: p}
	defer ticket.leave()
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, failure.ErrNoHealthyUpstream.With(ErrPoolClosed)
		}
		if n := len(p.idle); n > 0 && !fresh {
			c := p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			c.idleSince = 0
			p.mu.Unlock()
			return c, nil
		}
		if err := ticket.enter(); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		ch := p.watchLocked()
		p.mu.Unlock()

		c, err := p.dialH1(req)
		if err == nil || !isOverflow(err) {
			p.unwatch()
			return c, err
		}
		err = p.waitForConnection(ctx, ch)
		p.unwatch()
		if err != nil {
			return nil, err
		}
	}
}

func isOverflow(err error) bool {
	fe, ok := err.(*failure.Error)
	return ok && fe.Is(failure.ErrOverflow)
}

func (p *Pool) dialH1(req *http.Request) (*h1Conn, error) {
	conn, sess, err := p.dial(req, HTTP1)
	if err != nil {
		return nil, err
	}
	return p.newH1(conn, sess), nil
}

func (p *Pool) newH1(conn net.Conn, sess *streaminfo.TLS) *h1Conn {
	p.stats.CxHTTP1Total.Inc()
	c := &h1Conn{p: p, conn: conn, tls: sess}
	c.cc = http1.NewClientConn(conn, &http1.ClientConfig{
		MaxResponseHeaderBytes: p.opts.MaxResponseHeaderBytes,
		Release:                c.release,
		PreserveCase:           p.opts.PreserveCase,
		// The router copies a response's header before its body.
		ReuseResponseHeader: true,
	})
	return c
}

// headerCase hides the header case the listener recorded from the codec
// when this cluster does not preserve case: as in Envoy, preserve_case
// must be set on both sides for a client's spelling to reach the upstream.
func (p *Pool) headerCase(req *http.Request) *http.Request {
	if p.opts.PreserveCase || http1.HeaderCaseFrom(req.Context()) == nil {
		return req
	}
	return req.WithContext(http1.WithHeaderCase(req.Context(), nil))
}

// release is the codec's Release callback: the exchange is over.
func (c *h1Conn) release(reusable bool) {
	p := c.p
	if max := p.opts.MaxRequestsPerConn; reusable && max > 0 && c.requests >= max {
		p.stats.CxMaxRequests.Inc()
		reusable = false
	}
	p.mu.Lock()
	if !reusable || p.closed {
		p.signalLocked()
		p.mu.Unlock()
		c.close()
		return
	}
	if d := p.opts.IdleTimeout; d > 0 {
		c.idleSince = monotime()
		if !c.armed {
			c.armed = true
			if c.timer == nil {
				c.timer = time.AfterFunc(d, c.idleTimeout)
			} else {
				c.timer.Reset(d)
			}
		}
	}
	p.idle = append(p.idle, c)
	p.signalLocked()
	p.mu.Unlock()
}

func (c *h1Conn) idleTimeout() {
	p := c.p
	p.mu.Lock()
	c.armed = false
	if c.idleSince == 0 {
		p.mu.Unlock() // in use: the next release arms the timer again
		return
	}
	i := slices.Index(p.idle, c)
	if i < 0 {
		p.mu.Unlock() // drained or closed meanwhile
		return
	}
	if left := int64(p.opts.IdleTimeout) - (monotime() - c.idleSince); left > 0 {
		c.armed = true
		c.timer.Reset(time.Duration(left))
		p.mu.Unlock()
		return
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	p.mu.Unlock()
	p.stats.CxIdleTimeout.Inc()
	c.close()
}

// epoch anchors monotime.
var epoch = time.Now()

// monotime is a monotonic clock reading in nanoseconds.
func monotime() int64 { return int64(time.Since(epoch)) }

func (c *h1Conn) close() {
	if c.timer != nil {
		// An armed timer would keep a closed connection for the idle
		// timeout (an hour by default).
		c.timer.Stop()
	}
	c.cc.Close()
}

// Upgrade sends an upgrade request (websocket) over HTTP/1.1 on a
// connection of its own. On 101 Switching Protocols it returns the raw
// connection and the bytes already read past the response; otherwise the
// response, whose body closes the connection when closed.
func (p *Pool) Upgrade(req *http.Request) (*http.Response, net.Conn, *bufio.Reader, error) {
	conn, sess, err := p.dial(req, HTTP1)
	if err != nil {
		return nil, nil, nil, err
	}
	noteTLS(req, sess)
	p.stats.CxHTTP1Total.Inc()
	p.Host.RqTotal.Add(1)
	cc := http1.NewClientConn(conn, &http1.ClientConfig{MaxResponseHeaderBytes: p.opts.MaxResponseHeaderBytes,
		PreserveCase: p.opts.PreserveCase})
	resp, err := cc.RoundTrip(p.headerCase(req))
	if err != nil {
		conn.Close()
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, nil, nil, fmt.Errorf("upstream: %w", ctxErr)
		}
		return nil, nil, nil, p.h1Error(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = &doneBody{ReadCloser: resp.Body, pool: p, h1: true,
			hc: http1.ResponseHeaderCase(resp), done: func() { cc.Close() }}
		return resp, nil, nil, nil
	}
	raw, br := cc.Hijack()
	return resp, raw, br, nil
}
