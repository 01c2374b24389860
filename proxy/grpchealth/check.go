// Package grpchealth calls grpc.health.v1.Health/Check, the gRPC health
// check kubelet's gRPC probes make, over cleartext HTTP/2 and without
// grpc-go. The proxy binary links no grpc-go: grpc-go links
// text/template (through its request tracing), and a program that links
// text/template keeps every exported method of every type it links, the
// unused getters and validators of thousands of Envoy API messages
// included. That costs the sidecar ~3.5 MB of resident memory.
package grpchealth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/protobuf/encoding/protowire"
)

// Status is a HealthCheckResponse.ServingStatus.
type Status int32

const (
	Unknown        Status = 0
	Serving        Status = 1
	NotServing     Status = 2
	ServiceUnknown Status = 3
)

func (s Status) String() string {
	switch s {
	case Unknown:
		return "UNKNOWN"
	case Serving:
		return "SERVING"
	case NotServing:
		return "NOT_SERVING"
	case ServiceUnknown:
		return "SERVICE_UNKNOWN"
	}
	return strconv.Itoa(int(s))
}

// maxResponse bounds the response message: a HealthCheckResponse is a few
// bytes.
const maxResponse = 4 << 10

// Check asks the gRPC server at addr (host:port, cleartext HTTP/2) for the
// serving status of service ("" for the server as a whole). A gRPC error
// (the server does not know the service, or has no health service) is
// returned as an *Error. ctx bounds the call; its deadline is sent as
// grpc-timeout.
func Check(ctx context.Context, addr, service, userAgent string) (Status, error) {
	t := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	defer t.CloseIdleConnections()

	var msg []byte
	if service != "" {
		msg = protowire.AppendTag(msg, 1, protowire.BytesType)
		msg = protowire.AppendString(msg, service)
	}
	body := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(body[1:], uint32(len(msg)))
	body = append(body, msg...)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/grpc.health.v1.Health/Check", bytes.NewReader(body))
	if err != nil {
		return Unknown, err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	if d, ok := ctx.Deadline(); ok {
		req.Header.Set("Grpc-Timeout", strconv.FormatInt(max(time.Until(d).Milliseconds(), 1), 10)+"m")
	}
	resp, err := t.RoundTrip(req)
	if err != nil {
		return Unknown, fmt.Errorf("grpchealth: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Unknown, fmt.Errorf("grpchealth: HTTP status %d", resp.StatusCode)
	}
	payload, err := io.ReadAll(io.LimitReader(resp.Body, 5+maxResponse+1))
	if err != nil {
		return Unknown, fmt.Errorf("grpchealth: %w", err)
	}
	// A failed call may answer with headers only ("Trailers-Only").
	if err := grpcStatus(resp.Trailer, resp.Header); err != nil {
		return Unknown, err
	}
	return decode(payload)
}

// decode reads the one length-prefixed HealthCheckResponse of payload.
func decode(payload []byte) (Status, error) {
	if len(payload) < 5 {
		return Unknown, errors.New("grpchealth: no response message")
	}
	if payload[0] != 0 {
		return Unknown, errors.New("grpchealth: compressed response")
	}
	n := binary.BigEndian.Uint32(payload[1:5])
	if n > maxResponse || int(n) != len(payload)-5 {
		return Unknown, fmt.Errorf("grpchealth: response message of %d bytes, %d received", n, len(payload)-5)
	}
	status := Unknown
	for b := payload[5:]; len(b) > 0; {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return Unknown, errors.New("grpchealth: malformed response message")
		}
		b = b[l:]
		if num == 1 && typ == protowire.VarintType {
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return Unknown, errors.New("grpchealth: malformed response message")
			}
			status, b = Status(int32(v)), b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(num, typ, b)
		if l < 0 {
			return Unknown, errors.New("grpchealth: malformed response message")
		}
		b = b[l:]
	}
	return status, nil
}

// Error is a gRPC error status.
type Error struct {
	Code    int // grpc-status
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("rpc error: code = %s desc = %s", codeName(e.Code), e.Message)
}

// grpcStatus is the call's gRPC status: nil for OK.
func grpcStatus(hs ...http.Header) error {
	for _, h := range hs {
		s := h.Get("Grpc-Status")
		if s == "" {
			continue
		}
		code, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("grpchealth: grpc-status %q", s)
		}
		if code == 0 {
			return nil
		}
		return &Error{Code: code, Message: h.Get("Grpc-Message")}
	}
	return errors.New("grpchealth: no grpc-status")
}

var codeNames = [...]string{"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
	"Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"}

// codeName names a gRPC status code as grpc-go prints it.
func codeName(c int) string {
	if c >= 0 && c < len(codeNames) {
		return codeNames[c]
	}
	return "Code(" + strconv.Itoa(c) + ")"
}
