package load

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// TCP is an opaque TCP upload: each connection writes as fast as it can
// for Duration; the receiving end counts what arrives.
type TCP struct {
	Addr        string
	Connections int
	Duration    time.Duration
	// Received reports the bytes the receiving end has read so far.
	Received func() int64
	// In, if not nil, runs the dials (see Pace.In).
	In func(fn func() error) error
}

// RunTCP streams and returns the bytes that reached the receiver while
// the writers ran, in Result.Bytes.
func RunTCP(t TCP) (Result, error) {
	if err := checkPace(Pace{Connections: t.Connections, Duration: t.Duration}); err != nil {
		return Result{}, err
	}
	conns := make([]net.Conn, 0, t.Connections)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	err := Pace{In: t.In}.inOrHere(func() error {
		for range t.Connections {
			c, err := net.DialTimeout("tcp", t.Addr, 5*time.Second)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("load: tcp %s: %w", t.Addr, err)
	}
	buf := make([]byte, 64<<10)
	start := time.Now()
	before := t.Received()
	deadline := start.Add(t.Duration)
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetWriteDeadline(deadline)
			for {
				if _, err := c.Write(buf); err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						errs[i] = err
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start), Bytes: t.Received() - before}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("load: tcp %s: %w", t.Addr, err)
	}
	return res, nil
}
