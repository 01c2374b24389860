package http2

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// readLoop reads the server's frames until the connection breaks.
func (cc *ClientConn) readLoop() {
	var err error
	for err == nil {
		var f http2.Frame
		f, err = cc.hr.readFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				// Malformed headers (the Framer checked them): that
				// stream fails with a protocol error, the others go on.
				if s := cc.stream(se.StreamID); s != nil {
					s.end(se, resetAlways, se.Code)
				}
				err = nil
			}
			continue
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			err = cc.onHeaders(f)
		case *http2.DataFrame:
			err = cc.onData(f)
		case *http2.RSTStreamFrame:
			if s := cc.stream(f.StreamID); s != nil {
				s.end(http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode, Cause: errResetByServer}, resetNone, 0)
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				err = cc.applySettings(f)
			}
		case *http2.WindowUpdateFrame:
			err = cc.onWindowUpdate(f)
		case *http2.PingFrame:
			if !f.IsAck() {
				err = cc.write(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
			}
		case *http2.GoAwayFrame:
			cc.onGoAway(f)
		case *http2.PushPromiseFrame:
			err = http2.ConnectionError(http2.ErrCodeProtocol) // push was disabled
		}
	}
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		cc.write(func(fr *http2.Framer) error { return fr.WriteGoAway(0, http2.ErrCode(ce), nil) })
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	cc.close(fmt.Errorf("http2: connection to %s lost: %w", cc.addr, err))
}

var errResetByServer = errors.New("stream reset by the server")

// applySettings takes the server's SETTINGS and acknowledges them.
func (cc *ClientConn) applySettings(f *http2.SettingsFrame) error {
	var tableSize uint32
	hasTable := false
	cc.mu.Lock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err // a connection error
		}
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			cc.maxStreams = s.Val
		case http2.SettingMaxFrameSize:
			cc.maxFrame = s.Val
		case http2.SettingInitialWindowSize:
			if s.Val > maxWindow {
				return http2.ConnectionError(http2.ErrCodeFlowControl)
			}
			delta := int32(s.Val) - cc.initWindow
			for _, st := range cc.streams {
				st.sendWindow += delta
			}
			cc.initWindow = int32(s.Val)
		case http2.SettingHeaderTableSize:
			tableSize, hasTable = s.Val, true
		}
		return nil
	})
	cc.cond.Broadcast()
	cc.mu.Unlock()
	if err != nil {
		return err
	}
	err = cc.write(func(fr *http2.Framer) error {
		if hasTable {
			cc.henc.SetMaxDynamicTableSizeLimit(tableSize)
		}
		return fr.WriteSettingsAck()
	})
	if cc.onChange != nil {
		cc.onChange() // the stream limit may have grown
	}
	return err
}

func (cc *ClientConn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	w := &cc.sendWindow
	var s *clientStream // nil for the connection's window
	if f.StreamID != 0 {
		if s = cc.streams[f.StreamID]; s == nil {
			return nil
		}
		w = &s.sendWindow
	}
	if int64(*w)+int64(f.Increment) > maxWindow {
		if s == nil {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		// On its own goroutine: end takes cc.mu, held here.
		go s.end(http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}, resetAlways, http2.ErrCodeFlowControl)
		return nil
	}
	*w += int32(f.Increment)
	cc.cond.Broadcast()
	return nil
}

// onGoAway stops new streams and fails those the server will not process,
// with a GoAwayError (retriable when the server went away gracefully).
func (cc *ClientConn) onGoAway(f *http2.GoAwayFrame) {
	cc.mu.Lock()
	cc.goAway, cc.goAwayID = true, f.LastStreamID
	var cut []*clientStream
	for id, s := range cc.streams {
		if id > f.LastStreamID {
			cut = append(cut, s)
		}
	}
	closeNow := cc.idleLocked()
	cc.mu.Unlock()
	err := http2.GoAwayError{LastStreamID: f.LastStreamID, ErrCode: f.ErrCode, DebugData: string(f.DebugData())}
	for _, s := range cut {
		s.end(err, resetNone, 0)
	}
	if closeNow {
		cc.close(err)
	}
	if cc.onChange != nil {
		cc.onChange() // waiting requests go to another connection
	}
}

func (cc *ClientConn) onData(f *http2.DataFrame) error {
	if cc.recvAvail.Add(-int64(f.Length)) < 0 {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	s := cc.stream(f.StreamID)
	data := f.Data()
	if s == nil {
		cc.consumed(int(f.Length)) // a stream we ended: nobody reads it
		return nil
	}
	cc.consumed(int(f.Length) - len(data)) // padding
	if err := s.onData(data, f.StreamEnded()); err != nil {
		s.end(err, resetAlways, err.(http2.StreamError).Code)
		cc.consumed(len(data))
	}
	return nil
}

func (cc *ClientConn) onHeaders(f *http2.MetaHeadersFrame) error {
	s := cc.stream(f.StreamID)
	if s == nil {
		return nil // a stream we ended; the decoder state was kept
	}
	protoErr := func(why string) error {
		err := http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol, Cause: errors.New(why)}
		s.end(err, resetAlways, http2.ErrCodeProtocol)
		return nil
	}
	if f.Truncated {
		return protoErr("response headers larger than SETTINGS_MAX_HEADER_LIST_SIZE")
	}
	if s.hasResponse() {
		// Trailers: they end the stream.
		if !f.StreamEnded() {
			return protoErr("HEADERS after the response headers without END_STREAM")
		}
		if len(f.PseudoFields()) > 0 {
			return protoErr("pseudo-header in trailers")
		}
		s.onTrailers(cc.header(f.RegularFields()))
		return nil
	}
	status := f.PseudoValue("status")
	code, err := strconv.Atoi(status)
	if len(status) != 3 || err != nil || code < 100 {
		return protoErr("malformed :status " + strconv.Quote(status))
	}
	if code < 200 {
		if code == http.StatusSwitchingProtocols || f.StreamEnded() {
			return protoErr("interim response " + status)
		}
		return nil // 1xx interim responses are skipped
	}
	resp := &http.Response{
		Status:        statusLine(code),
		StatusCode:    code,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		ContentLength: -1,
		Request:       s.req,
	}
	resp.Header = cc.header(f.RegularFields())
	declareTrailers(resp)
	if cl := resp.Header["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseUint(cl[0], 10, 63); err == nil {
			resp.ContentLength = int64(n)
		}
	} else if len(cl) == 0 && f.StreamEnded() && !s.head {
		resp.ContentLength = 0
	}
	if s.head && !f.StreamEnded() {
		return protoErr("HEAD response without END_STREAM")
	}
	s.onResponse(resp, f.StreamEnded())
	return nil
}

// header builds a header map from fields.
func (cc *ClientConn) header(fields []hpack.HeaderField) http.Header {
	return headerOf(fields, cc.canon.get)
}

// declareTrailers declares the trailers resp's Trailer field names, as
// x/net's client does.
func declareTrailers(resp *http.Response) {
	vv := resp.Header["Trailer"]
	if vv == nil {
		return
	}
	resp.Trailer = make(http.Header)
	for _, v := range vv {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				resp.Trailer[http.CanonicalHeaderKey(t)] = nil
			}
		}
	}
}

var statusLines [600]string

func init() {
	for code := 100; code < len(statusLines); code++ {
		statusLines[code] = strconv.Itoa(code) + " " + http.StatusText(code)
	}
}

func statusLine(code int) string {
	if code < len(statusLines) {
		return statusLines[code]
	}
	return strconv.Itoa(code)
}
