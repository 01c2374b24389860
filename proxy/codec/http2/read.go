package http2

import (
	"errors"
	"io"
	"time"

	"golang.org/x/net/http2"
)

// readLoop reads and acts on frames until the connection ends. A stream
// error resets that stream and reading goes on; a connection error sends
// GOAWAY and ends it.
func (sc *serverConn) readLoop() error {
	for {
		f, err := sc.hr.readFrame()
		if err == nil {
			err = sc.processFrame(f)
		}
		if err == nil {
			continue
		}
		var se http2.StreamError
		if errors.As(err, &se) {
			sc.resetStream(se.StreamID, se.Code)
			continue
		}
		var ce http2.ConnectionError
		switch {
		case errors.As(err, &ce):
			sc.goAwayAndLinger(http2.ErrCode(ce))
		case errors.Is(err, http2.ErrFrameTooLarge):
			sc.goAwayAndLinger(http2.ErrCodeFrameSize)
		}
		return err
	}
}

// goAwayAndLinger sends a GOAWAY for a connection error, then reads and
// drops what the peer still sends for up to a second before the
// connection closes: closing with unread bytes would make the kernel
// reset the connection, and the peer might lose the GOAWAY that says why.
func (sc *serverConn) goAwayAndLinger(code http2.ErrCode) {
	sc.goAway(code)
	sc.conn.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, sc.br)
}

func (sc *serverConn) processFrame(f http2.Frame) error {
	if !sc.sawSettings {
		// RFC 9113 3.4: the client preface ends with a SETTINGS frame.
		if _, ok := f.(*http2.SettingsFrame); !ok {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		sc.sawSettings = true
	}
	if df, ok := f.(*http2.DataFrame); !ok || len(df.Data()) > 0 || df.StreamEnded() {
		sc.emptyFrames = 0
	}
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return sc.processHeaders(f)
	case *http2.DataFrame:
		return sc.processData(f)
	case *http2.SettingsFrame:
		return sc.processSettings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if err := sc.countControl(); err != nil {
			return err
		}
		return sc.writeControl(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
	case *http2.WindowUpdateFrame:
		return sc.processWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return sc.processReset(f)
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
		return nil
	case *http2.GoAwayFrame:
		// The client will open no more streams: finish the ones it has.
		go sc.Drain()
		return nil
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // clients cannot push
	case *http2.ContinuationFrame:
		// readFrame folds CONTINUATION into its HEADERS and the Framer
		// refuses one out of place; one here is out of place.
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	return nil // unknown frame types are ignored (RFC 9113 4.1)
}

// countControl bounds the frames that each make us write an answer.
func (sc *serverConn) countControl() error {
	now := time.Now()
	if now.Sub(sc.ctrlStart) > time.Second {
		sc.ctrlStart, sc.ctrlCount = now, 0
	}
	sc.ctrlCount++
	if sc.ctrlCount > maxControlPerSecond {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	return nil
}

func (sc *serverConn) processSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if err := sc.countControl(); err != nil {
		return err
	}
	var tableSize uint32
	hasTable := false
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingHeaderTableSize:
			tableSize, hasTable = s.Val, true
		case http2.SettingInitialWindowSize:
			return sc.setPeerWindow(int32(s.Val))
		case http2.SettingMaxFrameSize:
			sc.peerFrame.Store(min(s.Val, maxWriteFrame))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if hasTable {
		// The encoder is the write lock's: wait for it (a table size is
		// rarely set but in the first SETTINGS).
		return sc.write(func(fr *http2.Framer) error {
			sc.enc.SetMaxDynamicTableSizeLimit(min(tableSize, headerTableSize))
			return fr.WriteSettingsAck()
		})
	}
	return sc.writeControl(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
}

// setPeerWindow applies a new SETTINGS_INITIAL_WINDOW_SIZE to every open
// stream's send window (RFC 9113 6.9.2).
func (sc *serverConn) setPeerWindow(v int32) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	delta := int64(v) - int64(sc.peerWindow)
	sc.peerWindow = v
	for _, st := range sc.streams {
		st.sendWindow += delta
		if st.sendWindow > maxWindow {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
	}
	sc.flow.Broadcast()
	return nil
}

func (sc *serverConn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if f.StreamID == 0 {
		sc.sendWindow += int64(f.Increment)
		if sc.sendWindow > maxWindow {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		sc.flow.Broadcast()
		return nil
	}
	if sc.idleLocked(f.StreamID) {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	st := sc.streams[f.StreamID]
	if st == nil {
		return nil // closed: a late update
	}
	st.sendWindow += int64(f.Increment)
	if st.sendWindow > maxWindow {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	sc.flow.Broadcast()
	return nil
}

func (sc *serverConn) processReset(f *http2.RSTStreamFrame) error {
	sc.mu.Lock()
	if sc.idleLocked(f.StreamID) {
		sc.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	st := sc.streams[f.StreamID]
	if st != nil {
		st.endLocked(errStreamReset)
	}
	sc.mu.Unlock()
	if st != nil {
		st.cancel()
		sc.flushConnCredit()
		sc.closeIfDone()
	}
	return nil
}

// idleLocked reports whether id names a stream that was never opened.
func (sc *serverConn) idleLocked(id uint32) bool {
	if id%2 == 0 {
		return true // we push nothing
	}
	return id > sc.maxClientID
}

// resetStream sends RST_STREAM and ends the stream if it is open. The
// write lock is taken first so that no frame of the stream's handler can
// follow the reset.
func (sc *serverConn) resetStream(id uint32, code http2.ErrCode) {
	sc.wmu.Lock()
	sc.mu.Lock()
	st := sc.streams[id]
	if st != nil {
		st.resetSent = true
		st.endLocked(errResetSent)
		sc.noteReset(id)
	}
	sc.mu.Unlock()
	if sc.wErr == nil {
		sc.pushDeadline()
		sc.noteWriteErr(sc.wfr.WriteRSTStream(id, code))
	}
	sc.unlockW()
	if st != nil {
		st.cancel()
		sc.flushConnCredit()
		sc.closeIfDone()
	}
}

// noteReset remembers that we reset stream id: frames the client sent
// before it saw the RST_STREAM are ignored (RFC 9113 5.1), not taken for
// a protocol error. sc.mu is held.
func (sc *serverConn) noteReset(id uint32) {
	sc.resetIDs[sc.resetNext%uint32(len(sc.resetIDs))] = id
	sc.resetNext++
}

// wasReset reports whether we reset stream id recently; sc.mu is held.
func (sc *serverConn) wasReset(id uint32) bool {
	for _, r := range sc.resetIDs {
		if r == id {
			return true
		}
	}
	return false
}

// flushConnCredit returns the connection credit of bodies dropped at a
// reset, once enough has gathered.
func (sc *serverConn) flushConnCredit() {
	sc.mu.Lock()
	inc := sc.creditConnLocked(0)
	sc.mu.Unlock()
	sc.sendWindowUpdates(inc, 0, 0)
}

// sendWindowUpdates returns connection and stream credit to the peer.
func (sc *serverConn) sendWindowUpdates(conn uint32, id, stream uint32) {
	if conn == 0 && stream == 0 {
		return
	}
	sc.writeControl(func(fr *http2.Framer) error {
		if conn > 0 {
			if err := fr.WriteWindowUpdate(0, conn); err != nil {
				return err
			}
		}
		if stream > 0 {
			return fr.WriteWindowUpdate(id, stream)
		}
		return nil
	})
}

// creditConnLocked adds n consumed bytes to the connection's unreturned
// credit and says how much to return now (half the window gathered).
func (sc *serverConn) creditConnLocked(n int64) uint32 {
	inc := sc.recvUnsent.add(n, int64(sc.connWindow))
	sc.recvWindow += inc
	return uint32(inc)
}

// dropDataLocked credits the connection with n bytes of a DATA frame no
// stream takes, releases sc.mu and returns what is due to the peer.
func (sc *serverConn) dropDataLocked(n int64) {
	connInc := sc.creditConnLocked(n)
	sc.mu.Unlock()
	sc.sendWindowUpdates(connInc, 0, 0)
}

func (sc *serverConn) processData(f *http2.DataFrame) error {
	id := f.StreamID
	data := f.Data()
	n := int64(f.Length) // padding counts against flow control
	if len(data) == 0 && !f.StreamEnded() {
		sc.emptyFrames++
		if sc.emptyFrames > maxEmptyFrames {
			return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
		}
	}
	sc.mu.Lock()
	if sc.recvWindow < n {
		sc.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	sc.recvWindow -= n
	st := sc.streams[id]
	if st == nil || st.remoteDone {
		idle := sc.idleLocked(id)
		ours := st == nil && sc.wasReset(id)
		sc.dropDataLocked(n)
		if idle {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if ours {
			return nil // sent before our RST_STREAM reached the client
		}
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	if st.recvWindow < n {
		sc.dropDataLocked(n)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
	}
	st.recvWindow -= n
	// Padding and data nobody will read are credited at once.
	free := n - int64(len(data))
	var streamInc uint32
	if len(data) > 0 {
		if st.declLen >= 0 && st.gotLen+int64(len(data)) > st.declLen {
			sc.dropDataLocked(n)
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
		}
		st.gotLen += int64(len(data))
		if st.bodyClosed {
			free = n
		} else {
			st.buf = append(st.buf, data...)
			st.bodyCond.Signal()
		}
	}
	if free > 0 && !f.StreamEnded() {
		streamInc = st.creditLocked(free)
	}
	connInc := sc.creditConnLocked(free)
	if f.StreamEnded() {
		if st.declLen >= 0 && st.gotLen != st.declLen {
			sc.mu.Unlock()
			sc.sendWindowUpdates(connInc, 0, 0)
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
		}
		st.remoteEndLocked()
	}
	sc.mu.Unlock()
	sc.sendWindowUpdates(connInc, id, streamInc)
	return nil
}
