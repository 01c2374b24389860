package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"

	h2codec "github.com/outrider-mesh/outrider/proxy/codec/http2"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

type h2Conn struct {
	cc       *h2codec.ClientConn
	tls      *streaminfo.TLS
	requests atomic.Uint32
}

func (p *Pool) roundTripH2(req *http.Request) (*http.Response, error) {
	c, err := p.getH2(req)
	if err != nil {
		return nil, err
	}
	if max := p.opts.MaxRequestsPerConn; max > 0 && c.requests.Add(1) >= max {
		c.cc.SetDoNotReuse()
		p.stats.CxMaxRequests.Inc()
	}
	noteTLS(req, c.tls)
	resp, err := c.cc.RoundTrip(req)
	if err != nil {
		p.signal()
		return nil, classifyH2(req, err)
	}
	return resp, nil
}

// getH2 returns a connection with a stream reserved for req. One
// connection is dialed at a time; requests that find every stream taken
// wait for it, as Envoy's HTTP/2 pool does.
func (p *Pool) getH2(req *http.Request) (*h2Conn, error) {
	ctx := req.Context()
	ticket := pendingTicket{p: p}
	defer ticket.leave()
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, failure.ErrNoHealthyUpstream.With(ErrPoolClosed)
		}
		live := p.h2[:0]
		var found *h2Conn
		for _, c := range p.h2 {
			if c.cc.Gone() {
				continue
			}
			live = append(live, c)
			if found == nil && c.cc.Reserve() {
				found = c
			}
		}
		clear(p.h2[len(live):])
		p.h2 = live
		if found != nil {
			p.mu.Unlock()
			return found, nil
		}
		if err := ticket.enter(); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		dial := !p.h2Dialing
		p.h2Dialing = true
		gen := p.h2DialGen
		if !dial {
			ch := p.watchLocked()
			p.mu.Unlock()
			err := p.wait(ctx, ch)
			p.unwatch()
			if err != nil {
				return nil, err
			}
			// Like Envoy, fail the requests that waited for a connection
			// that could not be made, instead of dialing again for each.
			p.mu.Lock()
			failed := p.h2DialGen != gen && p.h2DialErr != nil
			dialErr := p.h2DialErr
			p.mu.Unlock()
			if failed {
				return nil, dialErr
			}
			continue
		}
		p.mu.Unlock()
		c, err := p.dialH2(req)
		p.mu.Lock()
		p.h2Dialing = false
		p.h2DialGen++
		p.h2DialErr = nil
		if c != nil {
			p.h2 = append(p.h2, c)
		} else if !isOverflow(err) {
			p.h2DialErr = err
		}
		p.signalLocked()
		ch := p.watchLocked()
		p.mu.Unlock()
		if err != nil && isOverflow(err) {
			err = p.waitForConnection(ctx, ch)
			p.unwatch()
			if err != nil {
				return nil, err
			}
			continue
		}
		p.unwatch()
		if err != nil {
			return nil, err
		}
	}
}

func (p *Pool) dialH2(req *http.Request) (*h2Conn, error) {
	conn, sess, err := p.dial(req, HTTP2)
	if err != nil {
		return nil, err
	}
	return p.newH2(req.Context(), conn, sess)
}

func (p *Pool) newH2(ctx context.Context, conn net.Conn, sess *streaminfo.TLS) (*h2Conn, error) {
	cc, err := h2codec.NewClientConn(ctx, conn, &h2codec.ClientConfig{
		Addr:                   p.addr.String(),
		MaxResponseHeaderBytes: uint32(max(p.opts.MaxResponseHeaderBytes, 0)),
		IdleTimeout:            p.opts.IdleTimeout,
		OnChange:               p.signal,
	})
	if err != nil {
		return nil, failure.ErrConnectFailure.With(err)
	}
	p.stats.CxHTTP2Total.Inc()
	return &h2Conn{cc: cc, tls: sess}, nil
}

// classifyH2 maps an HTTP/2 client error to the proxy's failures.
func classifyH2(req *http.Request, err error) error {
	var ns *h2codec.NotSentError
	if errors.As(err, &ns) {
		return failure.ErrRefusedStream.With(err) // another connection may take it
	}
	if ctxErr := req.Context().Err(); ctxErr != nil {
		return fmt.Errorf("upstream: %w", ctxErr)
	}
	var se h2codec.StreamError
	if errors.As(err, &se) {
		if se.Code == h2codec.ErrCodeRefusedStream {
			return failure.ErrRefusedStream.With(err)
		}
		return failure.ErrUpstreamReset.With(err)
	}
	var ge h2codec.GoAwayError
	if errors.As(err, &ge) {
		if ge.ErrCode == h2codec.ErrCodeNo {
			// A graceful GOAWAY that did not cover this stream: it was never
			// processed, which is what refused-stream retries are for.
			return failure.ErrRefusedStream.With(err)
		}
		return failure.ErrUpstreamReset.With(err)
	}
	return failure.ErrUpstreamTermination.With(err)
}
