package accesslog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/outrider-mesh/outrider/proxy/stats"
)

// Sink limits. Envoy flushes file logs every second or when 64 KiB are
// buffered; it never drops. This sink bounds its memory instead and counts
// what it drops, so a slow disk never blocks a request.
const (
	flushThreshold = 64 << 10
	defaultLimit   = 4 << 20
	flushInterval  = time.Second
)

// sinkStats are Envoy's filesystem.* stats, shared by every sink, plus
// filesystem.write_dropped for entries refused by a full buffer.
type sinkStats struct {
	buffered       *stats.Counter // filesystem.write_buffered: entries accepted
	completed      *stats.Counter // filesystem.write_completed: writes to the file
	failed         *stats.Counter // filesystem.write_failed
	flushedByTimer *stats.Counter // filesystem.flushed_by_timer
	reopenFailed   *stats.Counter // filesystem.reopen_failed
	dropped        *stats.Counter // filesystem.write_dropped
	totalBuffered  *stats.Gauge   // filesystem.write_total_buffered: bytes waiting
}

func newSinkStats(st *stats.Store) *sinkStats {
	sc := st.Root().Scope("filesystem")
	return &sinkStats{
		buffered:       sc.Counter("write_buffered"),
		completed:      sc.Counter("write_completed"),
		failed:         sc.Counter("write_failed"),
		flushedByTimer: sc.Counter("flushed_by_timer"),
		reopenFailed:   sc.Counter("reopen_failed"),
		dropped:        sc.Counter("write_dropped"),
		totalBuffered:  sc.Gauge("write_total_buffered"),
	}
}

// sink is an asynchronous writer to one file (or stdout/stderr). Log
// copies an entry into the active buffer under a mutex held for a memcpy;
// a goroutine swaps buffers and writes, once a second or when 64 KiB are
// waiting.
type sink struct {
	path  string // file path; "" for a standard stream
	stats *sinkStats
	limit int

	mu     sync.Mutex
	buf    []byte
	closed bool

	kick  chan struct{}      // more than flushThreshold is waiting
	flush chan chan struct{} // Flush: write now and answer
	reopn chan chan error    // Reopen: reopen the file and answer
	done  chan struct{}      // closed by close(): stop after a last write
	exit  chan struct{}      // closed when the goroutine has returned

	// Owned by the goroutine.
	w     io.Writer
	file  *os.File // nil for standard streams, which are never closed
	spare []byte
}

// openSink opens path for appending, or uses w for a standard stream.
func openSink(path string, w io.Writer, st *sinkStats, limit int) (*sink, error) {
	s := &sink{
		path: path, stats: st, limit: limit, w: w,
		kick:  make(chan struct{}, 1),
		flush: make(chan chan struct{}),
		reopn: make(chan chan error),
		done:  make(chan struct{}),
		exit:  make(chan struct{}),
	}
	if path != "" {
		f, err := openLogFile(path)
		if err != nil {
			return nil, err
		}
		s.file, s.w = f, f
	}
	go s.run()
	return s, nil
}

func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

// write queues one entry. It never blocks on I/O: when the buffer is full
// the entry is dropped and counted.
func (s *sink) write(entry []byte) {
	s.mu.Lock()
	if s.closed || len(s.buf)+len(entry) > s.limit {
		s.mu.Unlock()
		s.stats.dropped.Inc()
		return
	}
	s.buf = append(s.buf, entry...)
	full := len(s.buf) >= flushThreshold
	s.mu.Unlock()
	s.stats.buffered.Inc()
	s.stats.totalBuffered.Add(int64(len(entry)))
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

func (s *sink) run() {
	defer close(s.exit)
	tick := time.NewTicker(flushInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.kick:
			s.writeOut()
		case <-tick.C:
			if s.writeOut() {
				s.stats.flushedByTimer.Inc()
			}
		case ack := <-s.flush:
			s.writeOut()
			close(ack)
		case ack := <-s.reopn:
			s.writeOut()
			ack <- s.reopen()
		case <-s.done:
			s.writeOut()
			if s.file != nil {
				s.file.Close()
			}
			return
		}
	}
}

// writeOut swaps the buffers and writes what was waiting; it reports
// whether there was anything.
func (s *sink) writeOut() bool {
	s.mu.Lock()
	data := s.buf
	s.buf = s.spare[:0]
	s.mu.Unlock()
	s.spare = data[:0]
	if len(data) == 0 {
		return false
	}
	s.stats.totalBuffered.Add(-int64(len(data)))
	if _, err := s.w.Write(data); err != nil {
		s.stats.failed.Inc()
	} else {
		s.stats.completed.Inc()
	}
	// Give back memory after a burst rather than holding the peak forever.
	if cap(s.spare) > 16*flushThreshold {
		s.spare = nil
	}
	return true
}

func (s *sink) reopen() error {
	if s.file == nil {
		return nil
	}
	f, err := openLogFile(s.path)
	if err != nil {
		s.stats.reopenFailed.Inc()
		return err
	}
	s.file.Close()
	s.file, s.w = f, f
	return nil
}

// Flush writes everything queued so far before returning.
func (s *sink) Flush() {
	ack := make(chan struct{})
	select {
	case s.flush <- ack:
		<-ack
	case <-s.exit:
	}
}

// Reopen reopens the file (after log rotation).
func (s *sink) Reopen() error {
	ack := make(chan error, 1)
	select {
	case s.reopn <- ack:
		return <-ack
	case <-s.exit:
		return errors.New("access log: sink is closed")
	}
}

// close writes what is queued, closes the file and stops the goroutine.
func (s *sink) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.exit
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.done)
	<-s.exit
}
