package http2

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// wireWriter encodes frames the way a peer would, for a headerReader to read.
type wireWriter struct {
	buf  bytes.Buffer
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

func newWireWriter() *wireWriter {
	w := &wireWriter{}
	w.fr = http2.NewFramer(&w.buf, nil)
	w.enc = hpack.NewEncoder(&w.hbuf)
	return w
}

// encode returns the HPACK block of name/value pairs.
func (w *wireWriter) encode(fields ...string) []byte {
	w.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		w.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), w.hbuf.Bytes()...)
}

// headers writes block as a HEADERS frame and CONTINUATION frames of at
// most frag bytes.
func (w *wireWriter) headers(id uint32, block []byte, frag int) {
	writeHeaderBlock(w.fr, id, block, true, frag)
}

var getFields = []string{":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/"}

func TestHeaderReaderDecodesBlocksAsXNetDoes(t *testing.T) {
	tests := []struct {
		name      string
		maxList   uint32
		write     func(w *wireWriter)
		wantErr   error // a ConnectionError or StreamError code, nil for none
		wantTrunc bool
		wantField string // a regular field "name=value" expected, if any
		wantPrio  http2.PriorityParam
	}{
		{
			name:      "a request in one frame decodes its pseudo and regular fields",
			write:     func(w *wireWriter) { w.headers(1, w.encode(append(getFields, "x-a", "1")...), 16384) },
			wantField: "x-a=1",
		},
		{
			name:      "a request split over CONTINUATION frames decodes as one block",
			write:     func(w *wireWriter) { w.headers(1, w.encode(append(getFields, "x-a", strings.Repeat("v", 100))...), 7) },
			wantField: "x-a=" + strings.Repeat("v", 100),
		},
		{
			name: "a padded HEADERS with priority decodes its block and priority",
			write: func(w *wireWriter) {
				w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: w.encode(append(getFields, "x-a", "1")...),
					EndStream: true, EndHeaders: true, PadLength: 7, Priority: http2.PriorityParam{StreamDep: 3, Exclusive: true, Weight: 9}})
			},
			wantField: "x-a=1",
			wantPrio:  http2.PriorityParam{StreamDep: 3, Exclusive: true, Weight: 9},
		},
		{
			name: "padding longer than the HEADERS payload is a stream error",
			write: func(w *wireWriter) {
				w.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersPadded|http2.FlagHeadersEndHeaders, 1, []byte{9, 0x82})
			},
			wantErr: http2.StreamError{StreamID: 1, Code: http2.ErrCodeProtocol},
		},
		{
			name: "HEADERS on stream 0 is a connection error",
			write: func(w *wireWriter) {
				w.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 0, []byte{0x82})
			},
			wantErr: http2.ConnectionError(http2.ErrCodeProtocol),
		},
		{
			name:    "a pseudo-header after a regular one is a stream error",
			write:   func(w *wireWriter) { w.headers(1, w.encode("x-a", "1", ":method", "GET"), 16384) },
			wantErr: http2.StreamError{StreamID: 1, Code: http2.ErrCodeProtocol},
		},
		{
			name:    "a repeated pseudo-header is a stream error",
			write:   func(w *wireWriter) { w.headers(1, w.encode(append(getFields, ":path", "/b")...), 16384) },
			wantErr: http2.StreamError{StreamID: 1, Code: http2.ErrCodeProtocol},
		},
		{
			name:    "an unknown pseudo-header is a stream error",
			write:   func(w *wireWriter) { w.headers(1, w.encode(append(getFields, ":foo", "x")...), 16384) },
			wantErr: http2.StreamError{StreamID: 1, Code: http2.ErrCodeProtocol},
		},
		{
			name:    "request and response pseudo-headers together are a stream error",
			write:   func(w *wireWriter) { w.headers(1, w.encode(append(getFields, ":status", "200")...), 16384) },
			wantErr: http2.StreamError{StreamID: 1, Code: http2.ErrCodeProtocol},
		},
		{
			name:    "an upper-case field name is a stream error",
			write:   func(w *wireWriter) { w.headers(1, w.encode(append(getFields, "X-A", "1")...), 16384) },
			wantErr: http2.StreamError{StreamID: 1, Code: http2.ErrCodeProtocol},
		},
		{
			name:    "a field value with a newline is a stream error",
			write:   func(w *wireWriter) { w.headers(1, w.encode(append(getFields, "x-a", "1\n2")...), 16384) },
			wantErr: http2.StreamError{StreamID: 1, Code: http2.ErrCodeProtocol},
		},
		{
			name:    "a list over the limit is truncated, not an error",
			maxList: 200,
			write: func(w *wireWriter) {
				w.headers(1, w.encode(append(getFields, "x-a", strings.Repeat("v", 150))...), 16384)
			},
			wantTrunc: true,
		},
		{
			name:    "a block that is not HPACK is a compression error",
			write:   func(w *wireWriter) { w.headers(1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 16384) },
			wantErr: http2.ConnectionError(http2.ErrCodeCompression),
		},
		{
			name:    "a CONTINUATION far beyond the list limit is refused before it is decoded",
			maxList: 100,
			write: func(w *wireWriter) {
				w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: w.encode(getFields...)})
				w.fr.WriteContinuation(1, true, bytes.Repeat([]byte{0x40, 0x01, 'x', 0x7f}, 200))
			},
			wantErr: http2.ConnectionError(http2.ErrCodeProtocol),
		},
		{
			name: "a frame between HEADERS and its CONTINUATION is a connection error",
			write: func(w *wireWriter) {
				b := w.encode(getFields...)
				w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:3]})
				w.fr.WritePing(false, [8]byte{})
				w.fr.WriteContinuation(1, true, b[3:])
			},
			wantErr: http2.ConnectionError(http2.ErrCodeProtocol),
		},
		{
			name: "a CONTINUATION for another stream is a connection error",
			write: func(w *wireWriter) {
				b := w.encode(getFields...)
				w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:3]})
				w.fr.WriteContinuation(3, true, b[3:])
			},
			wantErr: http2.ConnectionError(http2.ErrCodeProtocol),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWireWriter()
			tt.write(w)
			max := tt.maxList
			if max == 0 {
				max = defaultMaxHeader
			}
			_, hr := newReadFramer(nil, &w.buf, max)
			f, err := hr.readFrame()
			if tt.wantErr != nil {
				checkReadErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("readFrame: %v", err)
			}
			mh, ok := f.(*http2.MetaHeadersFrame)
			if !ok {
				t.Fatalf("readFrame returned %T, want *MetaHeadersFrame", f)
			}
			if mh.Truncated != tt.wantTrunc {
				t.Errorf("Truncated = %v, want %v", mh.Truncated, tt.wantTrunc)
			}
			if got := mh.PseudoValue("path"); got != "/" {
				t.Errorf(":path = %q, want /", got)
			}
			if !mh.StreamEnded() || mh.StreamID != 1 {
				t.Errorf("stream %d ended %v, want stream 1 ended", mh.StreamID, mh.StreamEnded())
			}
			if mh.Priority != tt.wantPrio || mh.HasPriority() != (tt.wantPrio != http2.PriorityParam{}) {
				t.Errorf("priority %v (flag %v), want %v", mh.Priority, mh.HasPriority(), tt.wantPrio)
			}
			if tt.wantField != "" {
				var got []string
				for _, hf := range mh.RegularFields() {
					got = append(got, hf.Name+"="+hf.Value)
				}
				if len(got) != 1 || got[0] != tt.wantField {
					t.Errorf("regular fields = %q, want [%q]", got, tt.wantField)
				}
			}
		})
	}
}

func checkReadErr(t *testing.T, err, want error) {
	t.Helper()
	var se http2.StreamError
	var ce http2.ConnectionError
	switch w := want.(type) {
	case http2.StreamError:
		if !errors.As(err, &se) || se.StreamID != w.StreamID || se.Code != w.Code {
			t.Fatalf("err = %v, want stream %d error %v", err, w.StreamID, w.Code)
		}
	case http2.ConnectionError:
		if !errors.As(err, &ce) || ce != w {
			t.Fatalf("err = %v, want connection error %v", err, http2.ErrCode(w))
		}
	}
}

func TestHeaderReaderKeepsHPACKInSyncAfterTruncatedAndInvalidBlocks(t *testing.T) {
	w := newWireWriter()
	// Indexed fields the encoder adds to its table in each block: the
	// next block only decodes if the reader decoded the earlier ones.
	w.headers(1, w.encode(append(getFields, "x-big", strings.Repeat("v", 250))...), 16384)
	w.headers(3, w.encode(append(getFields, "X-Bad", "1")...), 16384)
	w.headers(5, w.encode(append(getFields, "x-big", strings.Repeat("v", 250), "X-Bad", "1")...), 16384)
	w.headers(7, w.encode("x-ok", "1", ":method", "GET"), 16384)
	w.fr.WriteData(9, true, nil)
	w.headers(11, w.encode(append(getFields, "x-big", strings.Repeat("v", 250))...), 16384)

	_, hr := newReadFramer(nil, &w.buf, 256)
	steps := []struct {
		name  string
		check func(f http2.Frame, err error) bool
	}{
		{"an oversized block is truncated", func(f http2.Frame, err error) bool {
			mh, ok := f.(*http2.MetaHeadersFrame)
			return err == nil && ok && mh.Truncated && mh.StreamID == 1
		}},
		{"an invalid name is a stream error", func(f http2.Frame, err error) bool {
			var se http2.StreamError
			return errors.As(err, &se) && se.StreamID == 3
		}},
		{"a block that refers to both earlier blocks' table entries decodes (truncated first)", func(f http2.Frame, err error) bool {
			mh, ok := f.(*http2.MetaHeadersFrame)
			return err == nil && ok && mh.Truncated && mh.StreamID == 5
		}},
		{"pseudo after regular is a stream error", func(f http2.Frame, err error) bool {
			var se http2.StreamError
			return errors.As(err, &se) && se.StreamID == 7
		}},
		{"frames other than HEADERS pass through", func(f http2.Frame, err error) bool {
			_, ok := f.(*http2.DataFrame)
			return err == nil && ok
		}},
		{"the reused frame carries only the new block", func(f http2.Frame, err error) bool {
			mh, ok := f.(*http2.MetaHeadersFrame)
			return err == nil && ok && mh.Truncated && mh.StreamID == 11 && mh.PseudoValue("method") == "GET"
		}},
	}
	for _, s := range steps {
		f, err := hr.readFrame()
		if !s.check(f, err) {
			t.Fatalf("%s: got frame %T, err %v", s.name, f, err)
		}
	}
}
