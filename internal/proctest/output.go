// Package proctest is test support for the tests that run the project's
// processes (or a proxy in-process) and show what they logged when a test
// fails.
package proctest

import (
	"bytes"
	"sync"
)

// Output collects a process's output or a logger's lines: the process
// writes while the test reads. The zero value is ready to use.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}
