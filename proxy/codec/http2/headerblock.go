package http2

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// headerReader reads frames as x/net's Framer does with ReadMetaHeaders
// set, but decodes header blocks into storage the connection keeps: x/net
// allocates a MetaHeadersFrame per block and grows its Fields one append
// at a time, and a frame per HEADERS and CONTINUATION, which together were
// close to a third of the objects a request allocated. The
// MetaHeadersFrame it returns, its HeadersFrame and its Fields, are valid
// until the next readFrame; the field strings themselves are the
// decoder's and may be kept.
//
// It makes every check x/net's readMetaFrame makes, with the same
// outcomes: invalid names or values, pseudo-headers after regular ones,
// unknown, duplicate or mixed pseudo-headers are a stream error once the
// block is decoded (so the HPACK state stays in sync); a list over the
// limit is Truncated but still decoded; an HPACK error is a
// COMPRESSION_ERROR; a fragment far beyond what the list may still hold,
// or any fragment after an invalid field, is a PROTOCOL_ERROR on the
// connection before it is decoded (the CONTINUATION flood of
// CVE-2023-45288). The Framer still enforces that CONTINUATION frames
// follow their HEADERS without anything in between.
type headerReader struct {
	fr      *http2.Framer
	r       io.Reader // fr's
	payload []byte    // the header frame being decoded
	hf      http2.HeadersFrame
	dec     *hpack.Decoder
	maxList uint32

	mh     http2.MetaHeadersFrame
	fields []hpack.HeaderField

	// The block being decoded.
	headersRemain  uint32
	trailersRemain uint32
	sawRegular     bool
	truncated      bool
	invalid        error
}

func newHeaderReader(fr *http2.Framer, r io.Reader, maxHeaderList uint32) *headerReader {
	hr := &headerReader{fr: fr, r: r, maxList: maxHeaderList}
	if hr.maxList == 0 {
		hr.maxList = 16 << 20 // x/net's default when none is set
	}
	hr.dec = hpack.NewDecoder(headerTableSize, hr.emit)
	hr.dec.SetMaxStringLength(int(hr.maxList))
	return hr
}

// readFrame reads the next frame; a HEADERS frame comes back with its
// CONTINUATION frames read and the block decoded, as a
// *http2.MetaHeadersFrame.
func (hr *headerReader) readFrame() (http2.Frame, error) {
	// The Framer checks the frame's size and order; HEADERS and
	// CONTINUATION payloads are read here, into the connection's buffer,
	// as the Framer would allocate a frame for each.
	fh, err := hr.fr.ReadFrameHeader()
	if err != nil {
		return nil, err
	}
	if fh.Type != http2.FrameHeaders {
		return hr.fr.ReadFrameForHeader(fh)
	}
	frag, err := hr.readHeaders(fh)
	if err != nil {
		return nil, err
	}
	return hr.readBlock(frag)
}

// readPayload reads a frame's payload into the connection's buffer, which
// grows to the largest header frame seen (most blocks are small).
func (hr *headerReader) readPayload(fh http2.FrameHeader) ([]byte, error) {
	n := int(fh.Length)
	if cap(hr.payload) < n {
		hr.payload = make([]byte, n)
	}
	p := hr.payload[:n]
	_, err := io.ReadFull(hr.r, p)
	return p, err
}

// readHeaders reads a HEADERS frame into hr.hf and returns its block
// fragment, as x/net's parseHeadersFrame does.
func (hr *headerReader) readHeaders(fh http2.FrameHeader) ([]byte, error) {
	p, err := hr.readPayload(fh)
	if err != nil {
		return nil, err
	}
	if fh.StreamID == 0 {
		return nil, http2.ConnectionError(http2.ErrCodeProtocol)
	}
	hr.hf = http2.HeadersFrame{FrameHeader: fh}
	var pad int
	if fh.Flags.Has(http2.FlagHeadersPadded) {
		if len(p) < 1 {
			return nil, io.ErrUnexpectedEOF
		}
		pad, p = int(p[0]), p[1:]
	}
	if fh.Flags.Has(http2.FlagHeadersPriority) {
		if len(p) < 5 {
			return nil, io.ErrUnexpectedEOF
		}
		v := binary.BigEndian.Uint32(p)
		hr.hf.Priority = http2.PriorityParam{StreamDep: v & 0x7fffffff, Exclusive: v&(1<<31) != 0, Weight: p[4]}
		p = p[5:]
	}
	if len(p) < pad {
		return nil, http2.StreamError{StreamID: fh.StreamID, Code: http2.ErrCodeProtocol}
	}
	return p[:len(p)-pad], nil
}

// readBlock decodes the block that starts with frag, the fragment of the
// HEADERS frame in hr.hf, and reads its CONTINUATION frames.
func (hr *headerReader) readBlock(frag []byte) (http2.Frame, error) {
	hf := &hr.hf
	hr.fields = hr.fields[:0]
	hr.headersRemain, hr.trailersRemain = hr.maxList, hr.maxList
	hr.sawRegular, hr.truncated, hr.invalid = false, false, nil
	hr.dec.SetEmitEnabled(true)

	ended := hf.HeadersEnded()
	for {
		// Refuse to decode far more than the list may still hold: any
		// fragment once the list is over its limit, or one more than
		// twice what is left (x/net's bound).
		if int64(len(frag)) > 2*(int64(hr.headersRemain)+int64(hr.trailersRemain)) {
			return nil, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		// Field sizes are no longer counted after an invalid field.
		if hr.invalid != nil {
			return nil, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if _, err := hr.dec.Write(frag); err != nil {
			return nil, http2.ConnectionError(http2.ErrCodeCompression)
		}
		if ended {
			break
		}
		// The Framer refuses anything but a CONTINUATION on this stream.
		fh, err := hr.fr.ReadFrameHeader()
		if err != nil {
			return nil, err
		}
		if frag, err = hr.readPayload(fh); err != nil {
			return nil, err
		}
		ended = fh.Flags.Has(http2.FlagContinuationEndHeaders)
	}
	if err := hr.dec.Close(); err != nil {
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	hr.mh = http2.MetaHeadersFrame{HeadersFrame: hf, Fields: hr.fields, Truncated: hr.truncated}
	if hr.invalid != nil {
		return nil, http2.StreamError{StreamID: hf.StreamID, Code: http2.ErrCodeProtocol, Cause: hr.invalid}
	}
	if err := checkPseudos(hr.mh.PseudoFields()); err != nil {
		return nil, http2.StreamError{StreamID: hf.StreamID, Code: http2.ErrCodeProtocol, Cause: err}
	}
	return &hr.mh, nil
}

// emit takes one decoded field: it checks it and keeps it while the list
// is within its limit.
func (hr *headerReader) emit(f hpack.HeaderField) {
	if !httpguts.ValidHeaderFieldValue(f.Value) {
		// The value may be sensitive: it is not in the error.
		hr.invalid = fmt.Errorf("http2: invalid header field value for %q", f.Name)
	}
	if strings.HasPrefix(f.Name, ":") {
		if hr.sawRegular {
			hr.invalid = errPseudoAfterRegular
		}
	} else {
		hr.sawRegular = true
		if !validWireName(f.Name) {
			hr.invalid = fmt.Errorf("http2: invalid header field name %q", f.Name)
		}
	}
	if hr.invalid != nil {
		hr.dec.SetEmitEnabled(false)
		return
	}

	remain, size := &hr.headersRemain, f.Size()
	if f.Name == "trailer" {
		// Each declared trailer counts as a field of its own, as in x/net.
		n := uint32(strings.Count(f.Value, ",") + 1)
		remain, size = &hr.trailersRemain, uint32(len(f.Value))-n+1+n*hpack.HeaderField{}.Size()
	}
	if size > *remain {
		hr.dec.SetEmitEnabled(false)
		hr.truncated = true
		hr.headersRemain, hr.trailersRemain = 0, 0
		return
	}
	*remain -= size
	hr.fields = append(hr.fields, f)
}

var (
	errPseudoAfterRegular = fmt.Errorf("http2: pseudo header field after regular")
	errMixPseudo          = fmt.Errorf("http2: mix of request and response pseudo headers")
)

// validWireName reports whether name is a token in lower case, as HTTP/2
// field names must be.
func validWireName(name string) bool {
	if !httpguts.ValidHeaderFieldName(name) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// checkPseudos refuses unknown and repeated pseudo-headers and a mix of
// request and response ones.
func checkPseudos(pf []hpack.HeaderField) error {
	var isRequest, isResponse bool
	for i, hf := range pf {
		switch hf.Name {
		case ":method", ":path", ":scheme", ":authority", ":protocol":
			isRequest = true
		case ":status":
			isResponse = true
		default:
			return fmt.Errorf("http2: invalid pseudo-header %q", hf.Name)
		}
		for _, prev := range pf[:i] { // at most five: no map needed
			if hf.Name == prev.Name {
				return fmt.Errorf("http2: duplicate pseudo-header %q", hf.Name)
			}
		}
	}
	if isRequest && isResponse {
		return errMixPseudo
	}
	return nil
}
