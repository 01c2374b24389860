package http2

import (
	"io"

	"golang.org/x/net/http2"
)

// What the server and the client side share: the protocol's limits, the
// read Framer's set-up, header blocks, connection-specific fields and
// receive-window credit.

const (
	// initialWindow is RFC 9113's initial flow-control window, for the
	// connection and for each stream until SETTINGS say otherwise.
	initialWindow = 65535
	// maxWindow is the largest flow-control window RFC 9113 allows.
	maxWindow = 1<<31 - 1
	// maxReadFrame is RFC 9113's default SETTINGS_MAX_FRAME_SIZE, which
	// the proxy keeps on both sides (h2spec 4.2 checks that larger frames
	// are refused); it is also the largest frame a peer may be sent until
	// its SETTINGS allow more.
	maxReadFrame = 16384
	// headerTableSize is the HPACK dynamic table both ways.
	headerTableSize = 4096
	// defaultMaxHeader bounds a header list when the configuration does
	// not (Envoy's default).
	defaultMaxHeader = 60 << 10
)

// newReadFramer returns a Framer that reads frames of at most
// maxReadFrame bytes from r, and the headerReader that decodes its header
// blocks of at most maxHeaderList bytes; the Framer writes to w (nil when
// writes go through another Framer).
func newReadFramer(w io.Writer, r io.Reader, maxHeaderList uint32) (*http2.Framer, *headerReader) {
	fr := http2.NewFramer(w, r)
	fr.SetMaxReadFrameSize(maxReadFrame)
	return fr, newHeaderReader(fr, r, maxHeaderList)
}

// writeHeaderBlock writes an encoded header block as a HEADERS frame and
// as many CONTINUATION frames as frames of maxFrame bytes need.
func writeHeaderBlock(fr *http2.Framer, id uint32, block []byte, end bool, maxFrame int) error {
	first := true
	for first || len(block) > 0 {
		frag := block
		if len(frag) > maxFrame {
			frag = frag[:maxFrame]
		}
		block = block[len(frag):]
		var err error
		if first {
			err = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: end, EndHeaders: len(block) == 0})
			first = false
		} else {
			err = fr.WriteContinuation(id, len(block) == 0, frag)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// isConnectionHeader reports whether a wire (lower-case) header name is
// one of HTTP/1's connection-specific fields, which HTTP/2 does not carry
// (RFC 9113 8.2.2).
func isConnectionHeader(name string) bool {
	switch name {
	case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// recvCredit gathers the receive window that was consumed and not yet
// given back to the peer.
type recvCredit int64

// add counts n more consumed bytes and returns what to give back now:
// everything gathered once it reaches half of window (as x/net does, so
// that WINDOW_UPDATEs stay few), else zero.
func (c *recvCredit) add(n, window int64) int64 {
	*c += recvCredit(n)
	if int64(*c) < window/2 {
		return 0
	}
	inc := int64(*c)
	*c = 0
	return inc
}
