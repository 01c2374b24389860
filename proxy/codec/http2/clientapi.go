package http2

import (
	"time"

	"golang.org/x/net/http2"
)

// ClientConfig configures the client side. The zero value asks for 60 KiB
// of response headers and never closes an idle connection.
type ClientConfig struct {
	// Addr names the upstream in errors; empty means the connection's
	// remote address.
	Addr string
	// MaxResponseHeaderBytes is the SETTINGS_MAX_HEADER_LIST_SIZE the
	// client announces and enforces. Zero means 60 KiB (Envoy's default).
	MaxResponseHeaderBytes uint32
	// IdleTimeout closes the connection once it has had no stream for this
	// long. Zero disables it.
	IdleTimeout time.Duration
	// OnChange, if not nil, is called when the connection may take streams
	// it could not take before (SETTINGS, GOAWAY, streams failed at once),
	// so that a pool looks at its connections again. It must not block.
	OnChange func()
}

// The errors a pool classifies. A request RoundTrip did not send at all
// fails with a *NotSentError; a stream the server reset (or the client
// reset for a protocol error) with a StreamError, whose Code is
// ErrCodeRefusedStream when the server refused it unprocessed; a stream
// cut by the server's GOAWAY with a GoAwayError, whose ErrCode is
// ErrCodeNo when the server went away gracefully (the stream was not
// processed). Other errors mean the connection broke.
type (
	StreamError = http2.StreamError
	GoAwayError = http2.GoAwayError
	ErrCode     = http2.ErrCode
)

const (
	ErrCodeNo            = http2.ErrCodeNo
	ErrCodeRefusedStream = http2.ErrCodeRefusedStream
)

// NotSentError is a request that was not sent because the connection takes
// no new streams (it got GOAWAY, closed or was retired); another
// connection may take it.
type NotSentError struct {
	Addr  string
	Cause error // why the connection takes no new streams
}

func (e *NotSentError) Error() string {
	return "http2: connection to " + e.Addr + " takes no new streams: " + e.Cause.Error()
}

func (e *NotSentError) Unwrap() error { return e.Cause }

// BufferedBody is implemented by a request body that can tell how much of
// it is already at hand: n bytes that Read returns without waiting, and
// complete when those are all there is (the downstream stream ended). The
// server side's request bodies implement it, and the proxy's wrappers pass
// it on. RoundTrip sends a complete body that fits the server's windows
// itself, instead of on a goroutine of its own (a gRPC unary call's
// message, say).
type BufferedBody interface {
	Buffered() (n int, complete bool)
}
