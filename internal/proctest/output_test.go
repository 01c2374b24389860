package proctest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestOutputKeepsEveryConcurrentWrite(t *testing.T) {
	var o Output
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprintf(&o, "w%d\n", i)
			}
		}()
	}
	wg.Wait()
	got := o.String()
	for i := range 8 {
		if n := strings.Count(got, fmt.Sprintf("w%d\n", i)); n != 100 {
			t.Fatalf("writer %d: %d lines, want 100", i, n)
		}
	}
}
