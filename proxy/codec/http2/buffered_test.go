package http2

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// goroutineID is the calling goroutine's number, from its stack header
// ("goroutine 7 [running]:").
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return id
}

// bufferedBody is a request body that reports how much it holds and
// records the goroutine its reads ran on.
type bufferedBody struct {
	r        *strings.Reader
	complete bool
	readOn   chan string
}

func (b *bufferedBody) Buffered() (int, bool) { return b.r.Len(), b.complete }

func (b *bufferedBody) Read(p []byte) (int, error) {
	select {
	case b.readOn <- goroutineID():
	default:
	}
	return b.r.Read(p)
}

func (b *bufferedBody) Close() error { return nil }

func TestACompleteBodyThatFitsTheWindowIsSentByTheRequestingGoroutine(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		complete bool
		inline   bool
	}{
		{name: "a complete small body is sent inline", size: 100, complete: true, inline: true},
		{name: "an empty complete body is sent inline", size: 0, complete: true, inline: true},
		{name: "an incomplete body gets a goroutine", size: 100, complete: false, inline: false},
		{name: "a complete body larger than the window gets a goroutine", size: 2 << 20, complete: true, inline: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, _ := io.Copy(io.Discard, r.Body)
				io.WriteString(w, strings.Repeat("x", int(n)))
			}), nil)
			cc := dialClient(t, addr, nil)
			body := &bufferedBody{r: strings.NewReader(strings.Repeat("b", tc.size)), complete: tc.complete, readOn: make(chan string, 1)}
			req := clientRequest(t, "POST", "http://"+addr+"/", body)
			if !cc.Reserve() {
				t.Fatal("no stream")
			}
			resp, err := cc.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(got) != tc.size {
				t.Fatalf("the server got %d bytes, want %d", len(got), tc.size)
			}
			var readOn string
			select {
			case readOn = <-body.readOn:
			case <-time.After(10 * time.Second):
				t.Fatal("the body was never read")
			}
			if inline := readOn == goroutineID(); inline != tc.inline {
				t.Fatalf("read on the requesting goroutine: %v, want %v", inline, tc.inline)
			}
		})
	}
}

func TestTheServersRequestBodyReportsWhenItIsComplete(t *testing.T) {
	type report struct {
		n        int
		complete bool
	}
	reports := make(chan report, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bb := r.Body.(BufferedBody)
		var rep report
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if rep.n, rep.complete = bb.Buffered(); rep.complete {
				break
			}
		}
		reports <- rep
		io.Copy(io.Discard, r.Body)
	}), nil)
	cc := dialClient(t, addr, nil)
	req := clientRequest(t, "POST", "http://"+addr+"/", io.NopCloser(bytes.NewReader(make([]byte, 1234))))
	if !cc.Reserve() {
		t.Fatal("no stream")
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if rep := <-reports; rep != (report{1234, true}) {
		t.Fatalf("Buffered() = %d, %v; want 1234, true once the stream ended", rep.n, rep.complete)
	}
}
