package hcm

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// gatedReader returns its data once gate is closed.
type gatedReader struct {
	gate chan struct{}
	data string
}

func (g *gatedReader) Read(p []byte) (int, error) {
	<-g.gate
	return copy(p, g.data), io.EOF
}

func TestARequestBodyReadAfterItsStreamEndedRecordsNothing(t *testing.T) {
	st := newStream(&ConnectionManager{})

	t.Run("a read after the end fails and touches nothing", func(t *testing.T) {
		st.body.reset(io.NopCloser(strings.NewReader("hello")))
		st.body.detach()
		n, err := st.body.Read(make([]byte, 8))
		if n != 0 || !errors.Is(err, errStreamEnded) {
			t.Errorf("Read = %d, %v; want 0, errStreamEnded", n, err)
		}
		if got := st.info.BytesReceived.Load(); got != 0 {
			t.Errorf("BytesReceived = %d, want 0", got)
		}
	})

	t.Run("a read that straddles the end does not count into the next request", func(t *testing.T) {
		g := &gatedReader{gate: make(chan struct{}), data: "late"}
		st.body.reset(io.NopCloser(g))
		done := make(chan int)
		go func() {
			n, _ := st.body.Read(make([]byte, 8))
			done <- n
		}()
		time.Sleep(10 * time.Millisecond) // let the read start; if it has not, it fails as above
		st.body.detach()
		st.body.reset(io.NopCloser(strings.NewReader("next request")))
		close(g.gate)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the read did not return")
		}
		if got := st.info.BytesReceived.Load(); got != 0 {
			t.Errorf("BytesReceived = %d after a stale read, want 0", got)
		}
		if st.info.RequestComplete != 0 {
			t.Errorf("the stale read's EOF marked the next request complete")
		}
	})
}

// completeBody is a codec body holding all of its bytes.
type completeBody struct{ io.Reader }

func (completeBody) Buffered() (int, bool) { return 5, true }
func (completeBody) Close() error          { return nil }

func TestARequestBodyPassesOnWhatTheCodecHolds(t *testing.T) {
	st := newStream(&ConnectionManager{})
	for _, tc := range []struct {
		name         string
		rc           io.ReadCloser
		n            int
		wantComplete bool
	}{
		{name: "a codec body that holds it all", rc: completeBody{strings.NewReader("hello")}, n: 5, wantComplete: true},
		{name: "a body that cannot tell", rc: io.NopCloser(strings.NewReader("hello"))},
		{name: "a detached body", rc: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st.body.reset(tc.rc)
			if n, complete := st.body.Buffered(); n != tc.n || complete != tc.wantComplete {
				t.Fatalf("Buffered() = %d, %v; want %d, %v", n, complete, tc.n, tc.wantComplete)
			}
		})
	}
}
