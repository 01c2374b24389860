package http1

import (
	"errors"
	"net/http"
)

// ProtocolError is input that breaks HTTP/1 syntax or framing. On the
// server side Status is the status the codec answered with (and passed to
// ServerConfig.OnProtocolError); on the client side it is 0 and the caller
// maps the error to 502 with the UPE flag.
type ProtocolError struct {
	Status int
	// Details is Envoy's response code detail for the failure (for
	// %RESPONSE_CODE_DETAILS%), e.g. "http1.codec_error".
	Details string
	// Reason says what was wrong, for logs.
	Reason string
}

func (e *ProtocolError) Error() string {
	return "http1: " + e.Details + ": " + e.Reason
}

// Errors a RoundTrip can fail with besides *ProtocolError, context errors
// and network errors. Match them with errors.Is.
var (
	// ErrClosedBeforeResponse: the upstream closed or reset the connection
	// before sending any byte of a response. On a connection that carried
	// an earlier request this is the keep-alive race; a request without a
	// body may be retried on a fresh connection.
	ErrClosedBeforeResponse = errors.New("http1: connection closed before response")
	// ErrConnBusy: RoundTrip was called while the previous exchange was
	// still in progress.
	ErrConnBusy = errors.New("http1: connection busy")
	// ErrConnUnusable: RoundTrip was called on a connection that was closed,
	// hijacked or released as not reusable.
	ErrConnUnusable = errors.New("http1: connection not reusable")
	// ErrBodyClosed: Read on a response body after Close.
	ErrBodyClosed = errors.New("http1: read on closed body")
)

// RequestBodyError is a failure to read the request body while sending it
// upstream: the downstream side is at fault (for a proxy, the DC flag), not
// the upstream.
type RequestBodyError struct{ Err error }

func (e *RequestBodyError) Error() string { return "http1: reading request body: " + e.Err.Error() }
func (e *RequestBodyError) Unwrap() error { return e.Err }

// Envoy's response code details for codec failures.
const (
	detailCodecError       = "http1.codec_error"
	detailInvalidChars     = "http1.invalid_characters"
	detailHeadersTooLarge  = "http1.headers_too_large"
	detailTooManyHeaders   = "http1.too_many_headers"
	detailCLAndChunked     = "http1.content_length_and_chunked_not_allowed"
	detailInvalidTE        = "http1.invalid_transfer_encoding"
	detailInvalidCL        = "http1.content_length_not_allowed"
	detailInvalidURL       = "http1.invalid_url"
	detailMissingHost      = "missing_host_header"
	detailLowVersion       = "low_version"
	detailHeadersTimeout   = "request_header_timeout"
	detailBodyDisallowed   = "http1.body_disallowed"
	detailInvalidChunk     = "http1.invalid_chunk"
	detailInvalidStatus    = "http1.invalid_status"
	detailTooMany1xx       = "http1.too_many_1xx"
	detailUnexpectedData   = "http1.unexpected_data"
	detailTruncatedHead    = "http1.truncated_head"
	detailInvalidHost      = "http1.invalid_host"
	detailHTTP2Preface     = "http1.http2_preface"
	detailUnsupportedProto = "http1.unsupported_version"
)

func protoErr(status int, details, reason string) *ProtocolError {
	return &ProtocolError{Status: status, Details: details, Reason: reason}
}

func badRequest(details, reason string) *ProtocolError {
	return protoErr(http.StatusBadRequest, details, reason)
}
