package http2

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// serve runs the codec on a loopback listener with h; every connection
// is served until the test ends.
func serve(t testing.TB, h http.Handler, cfg *ServerConfig) string {
	t.Helper()
	return looptest.Serve(t, func(c net.Conn) {
		ServeConn(context.Background(), c, nil, h, cfg)
	})
}

// rawClient drives the server frame by frame, for the peers that
// misbehave.
type rawClient struct {
	t   testing.TB
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	return dialRawWith(t, addr, true)
}

// dialRawWith dials and sends the preface, and the client's SETTINGS if
// settings is true.
func dialRawWith(t testing.TB, addr string, settings bool) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{t: t, c: c, fr: http2.NewFramer(c, c)}
	rc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	rc.enc = hpack.NewEncoder(&rc.buf)
	if !settings {
		return rc
	}
	if err := rc.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return rc
}

// block encodes a request's header block: the four pseudo-headers of a GET
// on path, then extra name/value pairs.
func (rc *rawClient) block(path string, extra ...string) []byte {
	fields := []string{":method", "GET", ":scheme", "http", ":authority", "test", ":path", path}
	return rc.fields(append(fields, extra...)...)
}

// fields encodes a header block of name/value pairs.
func (rc *rawClient) fields(fields ...string) []byte {
	rc.buf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		rc.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), rc.buf.Bytes()...)
}

func (rc *rawClient) headers(id uint32, end bool, block []byte) error {
	return rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: end, EndHeaders: true})
}

// outcome is what the server did about a stream or the connection.
type outcome struct {
	status  string        // the :status of the response on the stream
	body    string        // its DATA
	reset   http2.ErrCode // RST_STREAM code on the stream, if reset
	wasRST  bool
	goAway  http2.ErrCode // GOAWAY code, if one came
	sawGoAw bool
	closed  bool // the connection ended
}

// await reads frames until the stream ends (response complete or reset)
// or the connection does. Server SETTINGS and PINGs are acknowledged.
func (rc *rawClient) await(id uint32) outcome {
	var o outcome
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			o.closed = true
			return o
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				rc.fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				if s := f.PseudoValue("status"); s != "" && s[0] != '1' {
					o.status = s
				}
				if f.StreamEnded() {
					return o
				}
			}
		case *http2.DataFrame:
			if f.StreamID == id {
				o.body += string(f.Data())
				if f.StreamEnded() {
					return o
				}
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				o.reset, o.wasRST = f.ErrCode, true
				return o
			}
		case *http2.GoAwayFrame:
			o.goAway, o.sawGoAw = f.ErrCode, true
			if f.ErrCode != http2.ErrCodeNo || f.LastStreamID < id {
				return o
			}
		}
	}
}
