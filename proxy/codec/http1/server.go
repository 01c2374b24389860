package http1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider-mesh/outrider/proxy/sockio"
)

var (
	noDeadline   time.Time
	aLongTimeAgo = time.Unix(1, 0)
)

// serverConn serves the requests of one downstream connection, one at a
// time and in order, on the goroutine that called ServeConn.
type serverConn struct {
	conn       net.Conn
	out        io.Writer // conn, or a sockio.Conn over it
	br         *bufio.Reader
	handler    http.Handler
	ctx        context.Context // ServeConn's: when done, drain
	base       context.Context
	baseDone   bool // base can end by itself (ConnContext made it so)
	remoteAddr string

	maxHead        int
	headersTimeout time.Duration
	idleTimeout    time.Duration
	acceptHTTP10   bool
	preserveCase   bool
	drainingFn     func() bool
	onProtoErr     func(int, error)

	hp       headParser
	header   http.Header // the response header map, reused by each request
	hijacked bool
	// strayReader: a goroutine the handler left behind may still be
	// reading the request body, so br must not be recycled.
	strayReader bool
	// rdSet: a read deadline may be set; clearing one that is not costs
	// a timer operation per request for nothing.
	rdSet bool

	// closing is set when ServeConn's context is done; idle (guarded by
	// mu) says the connection waits for a request, so a read deadline in
	// the past may interrupt it.
	mu      sync.Mutex
	closing atomic.Bool
	idle    bool
	// The idle timeout closes the connection once it has waited for a
	// request for idleTimeout: a request costs no deadline changes.
	// Guarded by mu.
	idleTimer   restartTimer
	idleExpired bool // the timer interrupted the wait

	// The background read watches for the client going away while the
	// handler runs, once the request body has been read. It starts only
	// when the handler has run for watchAfter, so that the usual quick
	// request spends no goroutine, read and deadline changes on it; watch
	// times the request waiting to be watched (watchFor).
	bgMu      sync.Mutex
	bgRunning bool
	bgDone    chan struct{}
	peerGone  atomic.Bool
	watch     restartTimer
	watchFor  *response // nil when no watch is pending
}

// watchAfter is how long a handler runs, its request read, before the
// connection is watched for the client going away. A client that leaves
// is noticed within twice this; a request answered sooner costs nothing,
// and a busy connection's timer fires at most once per watchAfter.
const watchAfter = 100 * time.Millisecond

func serveConn(ctx context.Context, conn net.Conn, br *bufio.Reader, h http.Handler, cfg *ServerConfig) (err error) {
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	// Responses are written, and requests read when no reader is given,
	// without the scheduler's system-call hand-off (see sockio).
	out := io.Writer(conn)
	if s := sockio.New(conn); s != nil {
		out = s
	}
	ownReader := br == nil
	if ownReader {
		br = getReader(out.(io.Reader))
	}
	sc := &serverConn{
		conn:           conn,
		out:            out,
		br:             br,
		handler:        h,
		ctx:            ctx,
		base:           context.WithoutCancel(ctx),
		maxHead:        cfg.MaxHeaderBytes,
		headersTimeout: cfg.HeadersTimeout,
		idleTimeout:    cfg.IdleTimeout,
		acceptHTTP10:   cfg.AcceptHTTP10,
		preserveCase:   cfg.PreserveCase,
		drainingFn:     cfg.Draining,
		onProtoErr:     cfg.OnProtocolError,
		bgDone:         make(chan struct{}, 1),
	}
	if sc.maxHead <= 0 {
		sc.maxHead = defaultMaxHeadBytes
	}
	if ra := conn.RemoteAddr(); ra != nil {
		sc.remoteAddr = ra.String()
	}
	if cfg.ConnContext != nil {
		sc.base = cfg.ConnContext(sc.base, conn)
	}
	sc.baseDone = sc.base.Done() != nil
	stop := context.AfterFunc(ctx, sc.shutdown)
	defer stop()
	err = sc.serve()
	sc.stopTimers()
	if sc.hijacked {
		return nil // the hijacker owns conn and br now
	}
	conn.Close()
	if ownReader && !sc.strayReader {
		putReader(br)
	}
	return err
}

var (
	errHijacked         = errors.New("http1: connection hijacked")
	errTruncatedRequest = fmt.Errorf("http1: connection closed inside a request head: %w", io.ErrUnexpectedEOF)
)

// draining reports whether ServeConn's context is done. The context is
// asked directly, since the AfterFunc that sets closing runs later.
func (sc *serverConn) draining() bool {
	return sc.closing.Load() || sc.ctx.Err() != nil
}

// shutdown runs when ServeConn's context is done: an idle connection is
// interrupted at once; a request in flight finishes with "Connection:
// close".
func (sc *serverConn) shutdown() {
	sc.mu.Lock()
	sc.closing.Store(true)
	if sc.idle {
		sc.conn.SetReadDeadline(aLongTimeAgo)
	}
	sc.mu.Unlock()
}

// waitForRequest waits, idle, for the first byte of the next request. It
// returns false when the connection should close quietly.
func (sc *serverConn) waitForRequest() bool {
	if sc.br.Buffered() == 0 {
		sc.setReadDeadline(noDeadline)
		sc.mu.Lock()
		if sc.closing.Load() {
			sc.mu.Unlock()
			return false
		}
		sc.idle = true
		if sc.idleTimeout > 0 {
			sc.idleTimer.start(sc.idleTimeout, sc.idleFired)
		}
		sc.mu.Unlock()
		_, err := sc.br.Peek(1)
		sc.mu.Lock()
		sc.idle = false
		expired := sc.idleExpired
		sc.mu.Unlock()
		if err != nil || expired {
			return false
		}
	}
	if sc.draining() {
		return false
	}
	deadline := noDeadline
	if sc.headersTimeout > 0 {
		deadline = time.Now().Add(sc.headersTimeout)
	}
	sc.setReadDeadline(deadline)
	return true
}

// idleFired runs when the idle timer fires: a connection that has waited
// for a request for idleTimeout is interrupted (and closes quietly); one
// that waited less is checked again when the rest of the timeout has
// passed; one serving a request arms the timer again when it next waits.
func (sc *serverConn) idleFired() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if !sc.idleTimer.expired(sc.idleTimeout, sc.idle && !sc.idleExpired) {
		return
	}
	sc.idleExpired = true
	sc.conn.SetReadDeadline(aLongTimeAgo)
}

// stopTimers stops the idle and watch timers when the connection ends,
// so that they do not keep the connection until they fire.
func (sc *serverConn) stopTimers() {
	sc.mu.Lock()
	sc.idleTimer.stop()
	sc.mu.Unlock()
	sc.bgMu.Lock()
	sc.watchFor = nil
	sc.watch.stop()
	sc.bgMu.Unlock()
}

func (sc *serverConn) setReadDeadline(t time.Time) {
	if t.IsZero() && !sc.rdSet {
		return
	}
	sc.conn.SetReadDeadline(t)
	sc.rdSet = !t.IsZero()
}

func (sc *serverConn) serve() error {
	for {
		if !sc.waitForRequest() {
			return nil
		}
		w, err := sc.readRequest()
		if err != nil {
			return sc.rejectRead(err)
		}
		sc.setReadDeadline(noDeadline)
		reusable, err := sc.serveRequest(w)
		if err != nil || !reusable {
			return err
		}
	}
}

// rejectRead answers a request that could not be read: 4xx/5xx for bad
// input, 408 for headers that came too slowly, nothing when the client
// just went away.
func (sc *serverConn) rejectRead(err error) error {
	var pe *ProtocolError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &ne) && ne.Timeout() && sc.hp.consumed && !sc.draining():
		pe = protoErr(http.StatusRequestTimeout, detailHeadersTimeout, "request headers not received in time")
	case err == io.EOF && !sc.hp.consumed, errors.As(err, &ne) && ne.Timeout():
		return nil
	case err == io.EOF:
		return errTruncatedRequest
	default:
		return err
	}
	sc.reject(pe)
	return pe
}

// reject sends the codec's own error response and half-closes.
func (sc *serverConn) reject(pe *ProtocolError) {
	if sc.onProtoErr != nil {
		sc.onProtoErr(pe.Status, pe)
	}
	text := http.StatusText(pe.Status)
	bw := getWriter(sc.out)
	writeStatusLine(bw, false, pe.Status)
	bw.WriteString("Content-Length: ")
	bw.WriteString(strconv.Itoa(len(text)))
	bw.WriteString("\r\nContent-Type: text/plain\r\nConnection: close\r\nDate: ")
	bw.WriteString(time.Now().UTC().Format(http.TimeFormat))
	bw.WriteString("\r\n")
	if pe.Status == http.StatusUpgradeRequired {
		bw.WriteString("Upgrade: HTTP/1.1\r\n")
	}
	bw.WriteString("\r\n")
	bw.WriteString(text)
	sc.conn.SetWriteDeadline(time.Now().Add(lingerTimeout))
	bw.Flush()
	putWriter(bw)
	lingerClose(sc.conn)
}

// lingerTimeout bounds how long a rejected connection is read and
// discarded after the reply: closing with unread input would make the
// kernel send a reset that may destroy the reply before the client
// reads it.
const lingerTimeout = 500 * time.Millisecond

func lingerClose(c net.Conn) {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.CopyN(io.Discard, c, 256<<10)
}

// serveRequest runs the handler and completes the response. It reports
// whether the connection can read another request.
func (sc *serverConn) serveRequest(w *response) (reusable bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			w.cancel(nil)
			if w.body != nil {
				w.body.finish(false)
			}
			sc.stopBackgroundRead(w)
			if v == http.ErrAbortHandler {
				reusable, err = false, nil
				return
			}
			reusable, err = false, fmt.Errorf("http1: handler panic serving %s: %v\n%s", sc.remoteAddr, v, debug.Stack())
		}
	}()
	if w.body == nil {
		sc.startBackgroundRead(w)
	}
	sc.handler.ServeHTTP(w, w.req)
	if w.hijacked {
		w.cancel(nil)
		return false, errHijacked
	}
	if w.body != nil {
		if pe := w.body.failure(); pe != nil {
			if sc.onProtoErr != nil {
				sc.onProtoErr(pe.Status, pe)
			}
			if w.status == 0 {
				// Nothing answered yet: answer the framing error.
				sc.stopBackgroundRead(w)
				w.cancel(nil)
				w.err = errAfterHandler
				sc.reject(pe)
				return false, pe
			}
			w.closeAfter = true
		}
	}
	respOK := w.finish()
	bodyOK := true
	if w.body != nil {
		bodyOK = w.body.finish(respOK)
	}
	sc.stopBackgroundRead(w)
	w.cancel(nil)
	return bodyOK && respOK && !sc.peerGone.Load() && !sc.draining(), nil
}
