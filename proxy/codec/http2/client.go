package http2

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// ClientConn is one upstream HTTP/2 connection, framed with x/net's Framer.
//
// Why not x/net's ClientConn: it runs a goroutine per request (to write
// the request and watch its context) besides its read loop, and that
// goroutine, its stack growth and its hand-offs were the largest upstream
// cost of a proxied h2c or gRPC call. Here the requesting goroutine writes
// its HEADERS itself (into the BatchedConn, which gathers a scheduling
// round's frames into one write) and waits for the response headers; the
// one read loop per connection delivers frames to the streams. Only a
// request with a body gets a goroutine, which copies the body.
//
// Lock order: wmu before mu before a stream's mu; the read loop never
// holds mu or a stream's mu while it writes.
type ClientConn struct {
	conn        net.Conn // the BatchedConn over the dialed connection
	br          *bufio.Reader
	fr          *http2.Framer
	hr          *headerReader // reads fr, decoding header blocks
	addr        string
	idleTimeout time.Duration
	onChange    func() // capacity may have appeared: the pool looks again

	// The write side: frames, the HPACK encoder and stream IDs.
	wmu    sync.Mutex
	hbuf   bytes.Buffer
	henc   *hpack.Encoder
	lower  nameCache // wire header names, by canonical name
	nextID uint32

	mu         sync.Mutex
	cond       sync.Cond // send windows grew, a stream ended, or the connection broke
	streams    map[uint32]*clientStream
	reserved   int    // streams promised by reserve, not yet opened
	maxStreams uint32 // the server's SETTINGS_MAX_CONCURRENT_STREAMS
	maxFrame   uint32 // the server's SETTINGS_MAX_FRAME_SIZE
	sendWindow int32  // the connection's send window
	initWindow int32  // the server's SETTINGS_INITIAL_WINDOW_SIZE
	goAway     bool   // a GOAWAY arrived: no new streams
	goAwayID   uint32
	closing    bool // draining: closes once its streams are done
	doNotReuse bool
	closed     bool
	err        error     // why the connection is gone
	idleSince  time.Time // when the last stream ended
	idleArmed  bool

	// recvAvail is how many DATA bytes the server may still send on the
	// connection: granted minus received. connUnacked is what the reader
	// consumed and the server was not told yet.
	recvAvail   atomic.Int64
	connUnacked atomic.Int64

	canon nameCache // canonical header names, by wire name; the read loop's
}

const (
	// Receive windows as generous as x/net's transport: a stream may have
	// 4 MiB in flight, the connection 1 GiB; WINDOW_UPDATE is sent when
	// half of a window was consumed.
	clientStreamWindow = 4 << 20
	clientConnWindow   = 1 << 30
	// clientDefaultMaxStreams is the stream limit of a server that sets none.
	clientDefaultMaxStreams = 1000
	// maxClientStreamID: past it the connection takes no new streams.
	maxClientStreamID = 1<<31 - 1 - 2
)

var errServerPreface = errors.New("server did not start with SETTINGS")

// NewClientConn speaks the client preface on conn and reads the server's
// SETTINGS before returning, so that its stream limit is known before
// requests are spread over the connection; ctx bounds that handshake.
// Unlike HTTP/1's, it takes ctx and can fail, because the server speaks
// first. cfg may be nil. On error conn is closed.
func NewClientConn(ctx context.Context, conn net.Conn, cfg *ClientConfig) (*ClientConn, error) {
	if cfg == nil {
		cfg = &ClientConfig{}
	}
	addr := cfg.Addr
	if addr == "" {
		addr = conn.RemoteAddr().String()
	}
	maxHeaderBytes := cfg.MaxResponseHeaderBytes
	if maxHeaderBytes == 0 {
		maxHeaderBytes = defaultMaxHeader
	}
	bc := NewBatchedConn(conn)
	cc := &ClientConn{
		conn:        bc,
		br:          bufio.NewReaderSize(conn, 16<<10),
		addr:        addr,
		idleTimeout: cfg.IdleTimeout,
		onChange:    cfg.OnChange,
		lower:       nameCache{m: make(map[string]string), conv: lowerKey},
		canon:       nameCache{m: make(map[string]string), conv: canonicalKey},
		nextID:      1,
		streams:     make(map[uint32]*clientStream),
		maxStreams:  clientDefaultMaxStreams,
		maxFrame:    maxReadFrame,
		sendWindow:  initialWindow,
		initWindow:  initialWindow,
	}
	cc.cond.L = &cc.mu
	cc.fr, cc.hr = newReadFramer(bc, cc.br, maxHeaderBytes)
	cc.henc = hpack.NewEncoder(&cc.hbuf)
	cc.recvAvail.Store(clientConnWindow)

	fail := func(err error) (*ClientConn, error) {
		bc.Close()
		return nil, fmt.Errorf("http2: handshake with %s: %w", addr, err)
	}
	if _, err := io.WriteString(bc, http2.ClientPreface); err != nil {
		return fail(err)
	}
	err := cc.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: clientStreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: maxHeaderBytes},
	)
	if err == nil {
		err = cc.fr.WriteWindowUpdate(0, clientConnWindow-initialWindow)
	}
	if err != nil {
		return fail(err)
	}
	if d, ok := ctx.Deadline(); ok {
		conn.SetReadDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	f, err := cc.hr.readFrame()
	stopped := stop()
	conn.SetReadDeadline(time.Time{})
	if err != nil {
		if !stopped {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return fail(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		return fail(errServerPreface)
	}
	if err := cc.applySettings(sf); err != nil {
		return fail(err)
	}
	go cc.readLoop()
	return cc, nil
}

// Reserve promises a stream to a request, which must then call
// RoundTrip; false if the connection takes no more streams now.
func (cc *ClientConn) Reserve() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.closed || cc.retiredLocked() {
		return false
	}
	if uint32(len(cc.streams)+cc.reserved) >= cc.maxStreams {
		return false
	}
	if cc.nextID+2*uint32(len(cc.streams)+cc.reserved) > maxClientStreamID {
		return false
	}
	cc.reserved++
	return true
}

// Gone reports whether the pool should forget the connection: it is
// closed, or takes no new streams and has none left.
func (cc *ClientConn) Gone() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.closed {
		return true
	}
	return cc.retiredLocked() && len(cc.streams) == 0 && cc.reserved == 0
}

// SetDoNotReuse retires the connection once its streams are done.
func (cc *ClientConn) SetDoNotReuse() {
	cc.mu.Lock()
	cc.doNotReuse = true
	cc.mu.Unlock()
}

// Shutdown lets the active streams finish, then closes the connection.
func (cc *ClientConn) Shutdown() {
	cc.mu.Lock()
	cc.closing = true
	closeNow := cc.idleLocked()
	cc.mu.Unlock()
	if closeNow {
		cc.close(errClientClosed)
	}
}

var errClientClosed = errors.New("connection closed by the proxy")

// retiredLocked reports whether the connection takes no new streams but
// lets its open ones finish: it is draining, got GOAWAY or was retired.
func (cc *ClientConn) retiredLocked() bool {
	return cc.closing || cc.goAway || cc.doNotReuse
}

// idleLocked notes that a stream or a reservation ended and reports
// whether the connection should close now (it was retired and is idle).
func (cc *ClientConn) idleLocked() bool {
	if cc.closed || len(cc.streams) > 0 || cc.reserved > 0 {
		return false
	}
	if cc.retiredLocked() {
		cc.closed = true
		return true
	}
	if cc.idleTimeout > 0 {
		cc.idleSince = time.Now()
		if !cc.idleArmed {
			cc.idleArmed = true
			time.AfterFunc(cc.idleTimeout, cc.idleCheck)
		}
	}
	return false
}

// idleCheck closes the connection if it has been idle for the idle
// timeout. A timer armed for an earlier idle period re-arms itself for
// the rest of the current one; one that finds the connection busy
// leaves the next idle period to arm it again.
func (cc *ClientConn) idleCheck() {
	cc.mu.Lock()
	cc.idleArmed = false
	if cc.closed || len(cc.streams) > 0 || cc.reserved > 0 {
		cc.mu.Unlock()
		return
	}
	if rest := cc.idleTimeout - time.Since(cc.idleSince); rest > 0 {
		cc.idleArmed = true
		time.AfterFunc(rest, cc.idleCheck)
		cc.mu.Unlock()
		return
	}
	cc.closed = true
	cc.mu.Unlock()
	cc.close(errClientClosed)
}

// Close fails every stream and closes the connection now.
func (cc *ClientConn) Close() error {
	cc.close(errClientClosed)
	return nil
}

// close fails every stream with err and closes the connection.
func (cc *ClientConn) close(err error) {
	cc.mu.Lock()
	cc.closed = true
	if cc.err == nil {
		cc.err = err
	}
	err = cc.err
	streams := make([]*clientStream, 0, len(cc.streams))
	for _, s := range cc.streams {
		streams = append(streams, s)
	}
	clear(cc.streams)
	cc.cond.Broadcast()
	cc.mu.Unlock()
	for _, s := range streams {
		s.end(err, resetNone, 0)
	}
	cc.conn.Close()
	if cc.onChange != nil && len(streams) > 0 {
		cc.onChange()
	}
}

// write runs fn with the write side held; a write error breaks the
// connection.
func (cc *ClientConn) write(fn func(fr *http2.Framer) error) error {
	cc.wmu.Lock()
	err := fn(cc.fr)
	cc.wmu.Unlock()
	if err != nil {
		cc.close(cc.connErr(err))
	}
	return err
}

// connErr names the connection in a write error that broke it.
func (cc *ClientConn) connErr(err error) error {
	return fmt.Errorf("http2: connection to %s: %w", cc.addr, err)
}

// writeDetached is write for RST_STREAM and the connection's
// WINDOW_UPDATE: a write error closes the connection on another goroutine.
func (cc *ClientConn) writeDetached(fn func(fr *http2.Framer) error) {
	cc.wmu.Lock()
	err := fn(cc.fr)
	cc.wmu.Unlock()
	if err != nil {
		go cc.close(cc.connErr(err))
	}
}

func (cc *ClientConn) writeRST(id uint32, code http2.ErrCode) {
	cc.writeDetached(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, code) })
}

// consumed returns n bytes of connection window once half of it was
// consumed.
func (cc *ClientConn) consumed(n int) {
	if n <= 0 {
		return
	}
	u := cc.connUnacked.Add(int64(n))
	if u < clientConnWindow/2 || !cc.connUnacked.CompareAndSwap(u, 0) {
		return
	}
	cc.recvAvail.Add(u) // before the server can act on the update
	cc.writeDetached(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, uint32(u)) })
}

// stream returns the open stream id, or nil.
func (cc *ClientConn) stream(id uint32) *clientStream {
	cc.mu.Lock()
	s := cc.streams[id]
	cc.mu.Unlock()
	return s
}

// forget removes s from the open streams once it ended.
func (cc *ClientConn) forget(s *clientStream) {
	cc.mu.Lock()
	_, open := cc.streams[s.id]
	delete(cc.streams, s.id)
	cc.cond.Broadcast() // its body writer may wait for a window
	closeNow := open && cc.idleLocked()
	cc.mu.Unlock()
	if closeNow {
		cc.close(errClientClosed)
	}
}
