package http2

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	defaultMaxStreams   = 1024
	defaultWindow       = 1 << 20
	defaultWriteTimeout = 60 * time.Second
	// maxWriteFrame caps the DATA frames we send even if the peer allows
	// larger ones.
	maxWriteFrame = 64 << 10
	// perFieldOverhead × typicalFields is what x/net adds to MaxHeaderBytes
	// for SETTINGS_MAX_HEADER_LIST_SIZE.
	perFieldOverhead, typicalFields = 32, 10
	// queuedPerStream bounds the streams waiting for a handler slot, as a
	// multiple of MaxConcurrentStreams (x/net's rule against rapid reset).
	queuedPerStream = 4
	// maxControlPerSecond bounds PING and SETTINGS frames (each needs an
	// answer) from a peer in one second.
	maxControlPerSecond = 1000
	// maxEmptyFrames bounds consecutive DATA frames without payload or
	// END_STREAM, which cost work and carry nothing.
	maxEmptyFrames = 100
)

var (
	errConnClosed   = errors.New("http2: connection closed")
	errStreamReset  = errors.New("http2: stream reset by the client")
	errResetSent    = errors.New("http2: stream reset by the server")
	errStreamClosed = errors.New("http2: stream closed")
	errHandlerDone  = errors.New("http2: request body read after the handler returned")
	errBodyClosed   = errors.New("http2: request body closed")
	errTooLong      = errors.New("http2: handler wrote more than the declared Content-Length")
	errBadPreface   = errors.New("http2: bad client preface")
)

// serverConn is one connection. The reader goroutine (serve) owns the
// Framer it reads with and the fields marked "reader"; mu guards the
// stream table and flow control; wmu serialises frame writes and the HPACK
// encoder. Lock order: wmu before mu, never the reverse.
type serverConn struct {
	conn    net.Conn
	h       http.Handler
	baseCtx context.Context
	remote  string
	errLog  func(format string, args ...any)

	maxStreams   uint32
	streamWindow int32 // each stream's receive window, advertised in SETTINGS
	connWindow   int32
	maxHeaderLen uint32
	idleTimeout  time.Duration
	writeTimeout time.Duration
	draining     func() bool

	// reader
	br          *bufio.Reader
	hr          *headerReader // reads frames, decoding header blocks
	sawSettings bool
	emptyFrames int
	ctrlCount   int
	ctrlStart   time.Time

	wmu       sync.Mutex
	wfr       *http2.Framer // writes into conn
	enc       *hpack.Encoder
	hbuf      bytes.Buffer
	deadline  time.Time // when the write deadline was last pushed back
	prefaced  bool      // the server preface was written
	wErr      error     // the first write error
	goAwaySet bool      // a GOAWAY was written (or is due after the preface)
	ctrl      controlQueue

	mu          sync.Mutex
	streams     map[uint32]*stream
	maxClientID uint32
	goingAway   bool
	lastID      uint32 // streams above it are ignored once goingAway
	closed      bool
	curHandlers uint32
	queue       []*stream  // streams waiting for a handler slot
	sendWindow  int64      // the connection's send window
	recvWindow  int64      // what the peer may still send on the connection
	recvUnsent  recvCredit // connection credit not yet returned
	peerWindow  int32      // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	flow        sync.Cond  // send windows grew, or streams ended
	resetIDs    [16]uint32 // the streams we reset last (noteReset)
	resetNext   uint32
	idleSince   time.Time
	idleTimer   *time.Timer
	handlers    sync.WaitGroup

	// peerFrame is the largest frame we send (the peer's
	// SETTINGS_MAX_FRAME_SIZE, capped).
	peerFrame atomic.Uint32
}

func newServerConn(ctx context.Context, conn net.Conn, br *bufio.Reader, h http.Handler, cfg *ServerConfig) *serverConn {
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	sc := &serverConn{
		conn:         conn,
		h:            h,
		maxStreams:   cfg.MaxConcurrentStreams,
		streamWindow: cfg.InitialStreamWindow,
		connWindow:   cfg.InitialConnWindow,
		idleTimeout:  cfg.IdleTimeout,
		writeTimeout: cfg.WriteTimeout,
		draining:     cfg.Draining,
		errLog:       cfg.ErrorLog,
		streams:      make(map[uint32]*stream),
		sendWindow:   initialWindow,
		peerWindow:   initialWindow,
	}
	if sc.errLog == nil {
		sc.errLog = log.Printf
	}
	if sc.maxStreams == 0 {
		sc.maxStreams = defaultMaxStreams
	}
	if sc.streamWindow == 0 {
		sc.streamWindow = defaultWindow
	}
	if sc.connWindow == 0 {
		sc.connWindow = defaultWindow
	}
	sc.streamWindow, sc.connWindow = max(sc.streamWindow, initialWindow), max(sc.connWindow, initialWindow)
	maxHeader := cfg.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = defaultMaxHeader
	}
	sc.maxHeaderLen = uint32(maxHeader + typicalFields*perFieldOverhead)
	if sc.writeTimeout == 0 {
		sc.writeTimeout = defaultWriteTimeout
	}
	if ra := conn.RemoteAddr(); ra != nil {
		sc.remote = ra.String()
	}
	base := context.WithoutCancel(ctx)
	if cfg.ConnContext != nil {
		base = cfg.ConnContext(base, conn)
	}
	sc.baseCtx = base
	sc.flow.L = &sc.mu
	sc.peerFrame.Store(maxReadFrame)
	sc.recvWindow = int64(sc.connWindow)

	sc.br = br
	_, sc.hr = newReadFramer(nil, br, sc.maxHeaderLen)
	sc.wfr = http2.NewFramer(conn, nil)
	sc.enc = hpack.NewEncoder(&sc.hbuf)
	sc.ctrl.fr = http2.NewFramer(&sc.ctrl.buf, nil)
	return sc
}

// serve runs the reader until the connection ends, then waits for the
// handlers.
func (sc *serverConn) serve() error {
	err := sc.writePreface()
	if err == nil {
		err = sc.readPreface()
	}
	if err == nil {
		if sc.idleTimeout > 0 {
			sc.mu.Lock()
			sc.idleSince = time.Now()
			sc.idleTimer = time.AfterFunc(sc.idleTimeout, sc.checkIdle)
			sc.mu.Unlock()
		}
		err = sc.readLoop()
	}
	sc.shutdown()
	sc.handlers.Wait()
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || sc.isQuietEnd() {
		return nil
	}
	return err
}

// isQuietEnd tells an end we asked for (drain, idle) from a failure.
func (sc *serverConn) isQuietEnd() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.goingAway && len(sc.streams) == 0
}

func (sc *serverConn) writePreface() error {
	settings := []http2.Setting{
		{ID: http2.SettingMaxFrameSize, Val: maxReadFrame},
		{ID: http2.SettingMaxConcurrentStreams, Val: sc.maxStreams},
		{ID: http2.SettingMaxHeaderListSize, Val: sc.maxHeaderLen},
		{ID: http2.SettingInitialWindowSize, Val: uint32(sc.streamWindow)},
	}
	sc.wmu.Lock()
	defer sc.unlockW()
	sc.pushDeadline()
	err := sc.wfr.WriteSettings(settings...)
	if err == nil && sc.connWindow > initialWindow {
		err = sc.wfr.WriteWindowUpdate(0, uint32(sc.connWindow-initialWindow))
	}
	sc.prefaced = true
	if err == nil && sc.goAwaySet {
		// Drain was called before the preface went out.
		err = sc.wfr.WriteGoAway(0, http2.ErrCodeNo, nil)
	}
	return sc.noteWriteErr(err)
}

func (sc *serverConn) readPreface() error {
	buf := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(sc.br, buf); err != nil {
		return err
	}
	if string(buf) != http2.ClientPreface {
		sc.goAway(http2.ErrCodeProtocol)
		return errBadPreface
	}
	return nil
}

// pushDeadline moves the write deadline on, at most once a second; wmu is
// held.
func (sc *serverConn) pushDeadline() {
	if sc.writeTimeout < 0 {
		return
	}
	now := time.Now()
	if now.Sub(sc.deadline) < time.Second {
		return
	}
	sc.deadline = now
	sc.conn.SetWriteDeadline(now.Add(sc.writeTimeout))
}

// noteWriteErr records the first write error; wmu is held. A failed write
// ends the connection: the reader notices when the close wakes it.
func (sc *serverConn) noteWriteErr(err error) error {
	if err != nil && sc.wErr == nil {
		sc.wErr = err
		sc.conn.Close()
	}
	return err
}

// write runs fn with the write lock held.
func (sc *serverConn) write(fn func(fr *http2.Framer) error) error {
	sc.wmu.Lock()
	defer sc.unlockW()
	if sc.wErr != nil {
		return sc.wErr
	}
	sc.pushDeadline()
	return sc.noteWriteErr(fn(sc.wfr))
}

// goAway writes a GOAWAY with code. Closing the connection is the
// caller's business.
func (sc *serverConn) goAway(code http2.ErrCode) {
	sc.wmu.Lock()
	sc.mu.Lock()
	sc.goingAway = true
	last := sc.maxClientID
	sc.lastID = last
	sc.mu.Unlock()
	if sc.wErr == nil {
		sc.pushDeadline()
		sc.noteWriteErr(sc.wfr.WriteGoAway(last, code, nil))
	}
	sc.goAwaySet = true
	sc.unlockW()
}

// Drain sends a graceful GOAWAY once; the connection closes when its
// streams are done.
func (sc *serverConn) Drain() {
	sc.wmu.Lock()
	if sc.goAwaySet {
		sc.unlockW()
		return
	}
	if !sc.prefaced {
		sc.goAwaySet = true
		sc.mu.Lock()
		sc.goingAway = true
		sc.mu.Unlock()
		sc.unlockW()
		return
	}
	sc.unlockW()
	sc.goAway(http2.ErrCodeNo)
	sc.closeIfDone()
}

// closeIfDone closes a connection that is going away and has no streams.
func (sc *serverConn) closeIfDone() {
	sc.mu.Lock()
	done := sc.goingAway && len(sc.streams) == 0 && len(sc.queue) == 0
	sc.mu.Unlock()
	if done {
		sc.conn.Close()
	}
}

// checkIdle runs on the idle timer.
func (sc *serverConn) checkIdle() {
	sc.mu.Lock()
	if sc.closed {
		sc.mu.Unlock()
		return
	}
	idle := len(sc.streams) == 0 && sc.curHandlers == 0
	wait := sc.idleTimeout
	if idle {
		wait -= time.Since(sc.idleSince)
	}
	if !idle || wait > 0 {
		sc.idleTimer.Reset(max(wait, time.Millisecond))
		sc.mu.Unlock()
		return
	}
	sc.mu.Unlock()
	sc.Drain()
}

// shutdown ends every stream once the reader has stopped.
func (sc *serverConn) shutdown() {
	sc.conn.Close()
	sc.mu.Lock()
	sc.closed = true
	if sc.idleTimer != nil {
		sc.idleTimer.Stop()
	}
	ended := make([]*stream, 0, len(sc.streams))
	for _, st := range sc.streams {
		ended = append(ended, st)
	}
	for _, st := range ended {
		st.endLocked(errConnClosed)
	}
	queued := sc.queue
	sc.queue = nil
	sc.flow.Broadcast()
	sc.mu.Unlock()
	for _, st := range ended {
		st.cancel()
	}
	for _, st := range queued {
		st.cancel()
	}
}
