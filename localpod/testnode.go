package localpod

import (
	"os"
	"sync"
)

// TB is the part of testing.TB that NewTestNode uses (this package does not
// import testing, so that programs can link it).
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

var sweepOnce sync.Once

// NewTestNode returns a node that is closed when the test ends, pass or fail.
// Without root or the ip command the test is skipped, with the reason; in CI
// (CI=true), where the suite runs as root, it fails instead, so that a broken
// setup cannot pass silently. The first call in a process sweeps namespaces
// left by test processes that died.
func NewTestNode(t TB, opts Options) *Node {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI runs these tests as root)", err)
		}
		t.Skipf("%v", err)
	}
	sweepOnce.Do(func() {
		if _, err := Sweep(opts.Prefix); err != nil {
			t.Errorf("localpod: sweeping stale namespaces: %v", err)
		}
	})
	n, err := NewNode(opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return n
}

// AddTestPod adds a pod or fails the test.
func (n *Node) AddTestPod(t TB, name string) *Pod {
	t.Helper()
	p, err := n.AddPod(name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}
