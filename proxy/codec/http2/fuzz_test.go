package http2

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzServerFrames feeds arbitrary bytes after the client preface and its
// SETTINGS: the server must neither panic nor hang, whatever the frames
// and header blocks say.
func FuzzServerFrames(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			ServeConn(context.Background(), server, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Trailer", "X-T")
				io.WriteString(w, "ok")
				w.Header().Set("X-T", "1")
			}), &ServerConfig{MaxHeaderBytes: 4096, WriteTimeout: time.Second})
		}()
		go io.Copy(io.Discard, client) // the server's answers
		client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		var pre bytes.Buffer
		pre.WriteString(http2.ClientPreface)
		http2.NewFramer(&pre, nil).WriteSettings()
		client.Write(pre.Bytes())
		client.Write(data)
		time.Sleep(time.Millisecond) // let the handlers run a little
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("ServeConn did not return after the client closed")
		}
	})
}

// fuzzSeeds are frame sequences a client sends: a GET, a POST with a body
// and trailers, a reset, window updates and pings.
func fuzzSeeds() [][]byte {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	field := func(k, v string) { enc.WriteField(hpack.HeaderField{Name: k, Value: v}) }
	var out [][]byte
	build := func(fn func(fr *http2.Framer)) {
		var b bytes.Buffer
		fn(http2.NewFramer(&b, nil))
		out = append(out, b.Bytes())
	}
	field(":method", "GET")
	field(":scheme", "http")
	field(":authority", "x")
	field(":path", "/a?b=c")
	get := append([]byte(nil), hb.Bytes()...)
	build(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get, EndStream: true, EndHeaders: true})
	})
	hb.Reset()
	field(":method", "POST")
	field(":scheme", "https")
	field(":authority", "x")
	field(":path", "/p")
	field("content-length", "3")
	post := append([]byte(nil), hb.Bytes()...)
	hb.Reset()
	field("x-trailer", "1")
	trailers := append([]byte(nil), hb.Bytes()...)
	build(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: post, EndHeaders: true})
		fr.WriteData(3, false, []byte("abc"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: trailers, EndStream: true, EndHeaders: true})
		fr.WriteWindowUpdate(0, 1000)
		fr.WritePing(false, [8]byte{1})
	})
	build(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get[:3]})
		fr.WriteContinuation(1, true, get[3:])
		fr.WriteRSTStream(1, http2.ErrCodeCancel)
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
		fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	})
	return out
}
