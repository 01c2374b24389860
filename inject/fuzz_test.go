package inject

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzInjectYAML feeds arbitrary manifests to `outrider inject`: it must never panic, and
// whatever it produces must itself be accepted by inject and uninject.
func FuzzInjectYAML(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	errs, _ := filepath.Glob("testdata/errors/*.yaml")
	for _, file := range append(files, errs...) {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				panic(fmt.Sprintf("inject took over 5s on %q", in))
			}
		}()
		out, _, err := testConfig.InjectYAML(in)
		if err != nil {
			return
		}
		if _, _, err := testConfig.InjectYAML(out); err != nil {
			t.Fatalf("re-injecting our own output failed: %v\n--- in ---\n%s\n--- out ---\n%s", err, in, out)
		}
		if _, _, err := UninjectYAML(out); err != nil {
			t.Fatalf("uninjecting our own output failed: %v\n--- out ---\n%s", err, out)
		}
	})
}
