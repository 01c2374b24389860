package retry

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// errSuperseded ends the body of a try that a newer try replaced.
var errSuperseded = errors.New("retry: request body taken over by a newer try")

// Buffer keeps the first Limit bytes of a request body as they stream to
// the upstream, so that a retry can send them again. Once more than Limit
// bytes have gone by, the body can no longer be replayed and the request
// is not retried (Envoy's per_request_buffer_limit_bytes rule).
type Buffer struct {
	src   io.Reader
	limit int
	try   atomic.Uint64 // the current try; older readers fail

	mu       sync.Mutex // held while reading src, so reads stay ordered
	buf      []byte
	overflow bool
	srcErr   error // set once src has ended (io.EOF or a failure)
}

// NewBuffer wraps src with a replay buffer of limit bytes (zero means
// DefaultBufferLimit).
func NewBuffer(src io.Reader, limit int) *Buffer {
	if limit <= 0 {
		limit = DefaultBufferLimit
	}
	return &Buffer{src: src, limit: limit}
}

// Replayable reports whether every byte read so far is still buffered.
func (b *Buffer) Replayable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.overflow
}

// Try returns the body for the next try: it replays what is buffered,
// then continues with the rest of the source. Readers of earlier tries
// fail from now on. Closing it does not close the source.
func (b *Buffer) Try() io.ReadCloser {
	return &tryReader{b: b, try: b.try.Add(1)}
}

type tryReader struct {
	b   *Buffer
	try uint64
	pos int
}

func (r *tryReader) Read(p []byte) (int, error) {
	b := r.b
	if b.try.Load() != r.try {
		return 0, errSuperseded
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.pos < len(b.buf) {
		n := copy(p, b.buf[r.pos:])
		r.pos += n
		return n, nil
	}
	if b.srcErr != nil {
		return 0, b.srcErr
	}
	n, err := b.src.Read(p)
	if !b.overflow {
		if len(b.buf)+n <= b.limit {
			b.buf = append(b.buf, p[:n]...)
		} else {
			b.overflow, b.buf = true, nil
		}
	}
	r.pos += n
	if err != nil {
		b.srcErr = err
	}
	if b.try.Load() != r.try {
		// A newer try started while this read waited: it gets the bytes
		// from the buffer instead.
		return 0, errSuperseded
	}
	return n, err
}

func (r *tryReader) Close() error { return nil }
