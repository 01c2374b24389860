// Package http2 is the proxy's HTTP/2 codec, both sides, as
// proxy/codec/http1 is for HTTP/1. The server side (ServeConn, NewConn)
// serves the streams of one downstream connection to an http.Handler; the
// client side (NewClientConn, ClientConn.RoundTrip, in clientapi.go and
// client*.go) sends requests as streams of one upstream connection, for
// the pool in proxy/upstream. What both need lives in wire.go, headers.go,
// headerblock.go (header blocks decoded into per-connection storage) and
// batch.go.
//
// The server side is built on golang.org/x/net/http2's Framer and hpack, without x/net's
// server: one reader goroutine per connection decodes each frame and acts
// on it at once (x/net hands every frame to a serve loop that selects over
// nine channels); each stream's handler runs on a goroutine of its own and
// writes its response frames itself, under the connection's write lock, so
// a response never waits for another goroutine to be scheduled. The
// connection given to ServeConn should gather small writes (the connection
// manager wraps it in BatchedConn).
//
// Protections a front door needs, as x/net has them: handlers are bounded
// by SETTINGS_MAX_CONCURRENT_STREAMS even when their streams were reset
// (rapid reset, CVE-2023-44487), with at most four times as many streams
// queued before the connection is closed with ENHANCE_YOUR_CALM; header
// blocks are bounded before they are decoded (CONTINUATION flood,
// CVE-2023-45288, with x/net's bound, in headerblock.go); PING and SETTINGS floods and runs
// of empty DATA frames close the connection; a peer that stops reading
// holds back the writers (the connection's buffer is bounded) and a write
// blocked longer than WriteTimeout closes the connection; the HPACK
// dynamic table is held to 4096 bytes both ways.
package http2

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"time"
)

// ServerConfig configures the server side. The zero value serves with
// Envoy's defaults.
type ServerConfig struct {
	// MaxConcurrentStreams is advertised in SETTINGS and enforced: a
	// stream beyond it is refused (REFUSED_STREAM), and at most this many
	// handlers run at once. Zero means 1024.
	MaxConcurrentStreams uint32
	// InitialStreamWindow is the receive window of each stream, in bytes.
	// Zero means 1 MiB. Values below 65535 are raised to it.
	InitialStreamWindow int32
	// InitialConnWindow is the connection's receive window. Zero means
	// 1 MiB. Values below 65535 are raised to it.
	InitialConnWindow int32
	// MaxHeaderBytes bounds a request's header list (advertised as
	// SETTINGS_MAX_HEADER_LIST_SIZE, this plus 320 bytes of per-field
	// overhead, as x/net advertises it); a larger list is answered 431,
	// and one far larger closes the connection before it is decoded.
	// Zero means 60 KiB.
	MaxHeaderBytes int
	// IdleTimeout closes a connection (after a GOAWAY) that has had no
	// stream open for this long. Zero disables it.
	IdleTimeout time.Duration
	// WriteTimeout bounds how long a write may wait for a peer that does
	// not read; the connection is closed when it passes. Zero means 60 s;
	// a negative value disables it.
	WriteTimeout time.Duration
	// Draining, if not nil, is asked when a stream opens: when it returns
	// true the connection sends a GOAWAY that keeps that stream and closes
	// once its streams are done (a connection accepted during a drain
	// serves one request).
	Draining func() bool
	// ConnContext, if not nil, derives the base context of every request
	// on the connection.
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// ErrorLog receives handler panics other than http.ErrAbortHandler.
	// If nil, the log package's standard logger is used.
	ErrorLog func(format string, args ...any)
}

// ServeConn serves HTTP/2 on conn until the peer closes it, a connection
// error closes it, the idle timeout passes, or a drain finishes. br, if
// not nil, holds the bytes read so far (the client preface may be among
// them) and is read instead of conn; if nil a buffered reader is made.
// The server preface is sent at once; the client preface must follow.
//
// Each request's context derives from ctx without its cancellation (ctx
// ending drains the connection: GOAWAY, then close when the streams are
// done) and is cancelled when the stream is reset, the connection ends or
// the handler returns. ServeConn closes conn and waits for the handlers
// to return before it returns. It returns nil when the peer closed the
// connection or a drain or idle timeout ended it, and otherwise the
// protocol or I/O error that ended it.
func ServeConn(ctx context.Context, conn net.Conn, br *bufio.Reader, h http.Handler, cfg *ServerConfig) error {
	return NewConn(ctx, conn, br, h, cfg).Serve()
}

// Conn is one served connection, for a caller that must drain it from
// outside (Drain). NewConn prepares it, Serve runs it.
type Conn struct {
	ctx context.Context
	sc  *serverConn
}

// NewConn prepares conn to be served as ServeConn serves it.
func NewConn(ctx context.Context, conn net.Conn, br *bufio.Reader, h http.Handler, cfg *ServerConfig) *Conn {
	if br == nil {
		br = bufio.NewReaderSize(conn, 16<<10)
	}
	return &Conn{ctx: ctx, sc: newServerConn(ctx, conn, br, h, cfg)}
}

// Serve serves the connection; see ServeConn.
func (c *Conn) Serve() error {
	stop := context.AfterFunc(c.ctx, c.sc.Drain)
	defer stop()
	return c.sc.serve()
}

// Drain sends a GOAWAY that keeps the streams already opened, refuses new
// ones, and closes the connection once they are done. It may be called
// from any goroutine, before or while Serve runs, any number of times.
func (c *Conn) Drain() { c.sc.Drain() }
