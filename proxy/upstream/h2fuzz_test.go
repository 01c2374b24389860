package upstream

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

// serverBytes builds a server's side of a connection with frames.
func serverBytes(write func(fr *http2.Framer, enc func(kv ...string) []byte)) []byte {
	var out, hb bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	henc := hpack.NewEncoder(&hb)
	enc := func(kv ...string) []byte {
		hb.Reset()
		for i := 0; i < len(kv); i += 2 {
			henc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return append([]byte(nil), hb.Bytes()...)
	}
	write(fr, enc)
	return out.Bytes()
}

// FuzzTheHTTP2ClientReadsAnyServerBytes sends one request to a server that
// answers its SETTINGS and then arbitrary bytes: the request succeeds or
// fails, it never panics or hangs, and the connection's goroutines end.
func FuzzTheHTTP2ClientReadsAnyServerBytes(f *testing.F) {
	f.Add(serverBytes(func(fr *http2.Framer, enc func(kv ...string) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(":status", "200", "content-length", "2"), EndHeaders: true})
		fr.WriteData(1, false, []byte("ok"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc("grpc-status", "0"), EndHeaders: true, EndStream: true})
	}))
	f.Add(serverBytes(func(fr *http2.Framer, enc func(kv ...string) []byte) {
		block := enc(":status", "103", "link", "</a>")
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:2]})
		fr.WriteContinuation(1, true, block[2:])
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(":status", "200"), EndHeaders: true, EndStream: true})
	}))
	f.Add(serverBytes(func(fr *http2.Framer, enc func(kv ...string) []byte) {
		fr.WriteWindowUpdate(0, 100)
		fr.WritePing(false, [8]byte{})
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
		fr.WriteRSTStream(1, http2.ErrCodeRefusedStream)
	}))
	f.Add(serverBytes(func(fr *http2.Framer, enc func(kv ...string) []byte) {
		fr.WriteGoAway(0, http2.ErrCodeNo, []byte("bye"))
	}))
	f.Add([]byte{0, 0})
	f.Add([]byte("garbage that is not a frame at all................"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		served := make(chan struct{})
		go func() {
			defer close(served)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			fr := http2.NewFramer(c, nil)
			fr.WriteSettings()
			c.Write(data)
			c.(*net.TCPConn).CloseWrite() // the client sees the end of what was sent
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			io.Copy(io.Discard, c) // until the client closes
		}()
		p, _ := newTestPool(t, ln.Addr().String(), Options{Protocol: HTTP2}, 1024)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+ln.Addr().String()+"/", bytes.NewReader([]byte("body")))
		if resp, err := p.RoundTrip(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		p.Drain() // the connection closes: its stream has ended
		<-served
	})
}
