package http2

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/internal/looptest"
	"golang.org/x/net/http2"
)

func TestAResponseWaitsForTheClientsWindow(t *testing.T) {
	body := strings.Repeat("x", 100)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	}), nil)
	rc := dialRaw(t, addr)
	rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	rc.headers(1, true, rc.block("/"))
	var got []byte
	updated := false
	for len(got) < len(body) {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
		if d, ok := f.(*http2.DataFrame); ok {
			got = append(got, d.Data()...)
			if len(got) > 10 && !updated {
				t.Fatalf("the server sent %d bytes into a window of 10", len(got))
			}
			if !updated && len(got) == 10 {
				updated = true
				rc.fr.WriteWindowUpdate(1, 90)
			}
		}
	}
	if string(got) != body {
		t.Fatalf("got %q", got)
	}
}

func TestAResetStreamUnblocksItsHandlerWaitingForWindow(t *testing.T) {
	writeErr := make(chan error, 1)
	rc := getWithNoWindow(t, func(w http.ResponseWriter, r *http.Request) {
		_, err := w.Write(make([]byte, 1000)) // the window is 0: waits
		writeErr <- err
	})
	for { // the head comes before any window is needed
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.(*http2.MetaHeadersFrame); ok {
			break
		}
	}
	rc.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	if awaitWriteErr(t, writeErr, 10*time.Second, "the handler is still blocked after the reset") == nil {
		t.Fatal("the write succeeded on a reset stream")
	}
}

func TestAWriteDeadlineEndsAWaitForWindow(t *testing.T) {
	writeErr := make(chan error, 1)
	getWithNoWindow(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		go http.NewResponseController(w).SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := w.Write(make([]byte, 1000)) // the window is 0: waits
		writeErr <- err
	})
	if err := awaitWriteErr(t, writeErr, 10*time.Second, "the write still waits after its deadline"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write error %v, want os.ErrDeadlineExceeded", err)
	}
}

func TestAPeerThatNeverReadsIsCutOff(t *testing.T) {
	writeErr := make(chan error, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
	}), &ServerConfig{WriteTimeout: 200 * time.Millisecond})
	rc := dialRaw(t, addr)
	rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	rc.fr.WriteWindowUpdate(0, 1<<31-1-65535)
	rc.headers(1, true, rc.block("/"))
	// ...and never reads.
	if awaitWriteErr(t, writeErr, 20*time.Second, "the handler still writes to a peer that does not read") == nil {
		t.Fatal("no error")
	}
}

// getWithNoWindow serves h and sends it a GET on stream 1 from a client
// that gives the server's streams no send window: the response body waits.
func getWithNoWindow(t *testing.T, h http.HandlerFunc) *rawClient {
	t.Helper()
	rc := dialRaw(t, serve(t, h, nil))
	rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	rc.headers(1, true, rc.block("/"))
	return rc
}

// awaitWriteErr returns the error of the handler's blocked write; the
// test fails with stuck if the write has not returned within d.
func awaitWriteErr(t *testing.T, writeErr <-chan error, d time.Duration, stuck string) error {
	t.Helper()
	select {
	case err := <-writeErr:
		return err
	case <-time.After(d):
		t.Fatal(stuck)
		return nil
	}
}

// stallConn blocks writes, once armed, until released: a peer whose
// socket takes nothing more.
type stallConn struct {
	net.Conn
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (c *stallConn) Write(p []byte) (int, error) {
	if c.armed.Load() {
		c.once.Do(func() { close(c.entered) })
		<-c.release
	}
	return c.Conn.Write(p)
}

func TestTheReaderGoesOnWhileAWriteIsStuck(t *testing.T) {
	sc := &stallConn{entered: make(chan struct{}), release: make(chan struct{})}
	cancelled := make(chan struct{})
	addr := looptest.Serve(t, func(c net.Conn) {
		sc.Conn = c
		ServeConn(context.Background(), sc, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/waits" {
				<-r.Context().Done()
				close(cancelled)
				return
			}
			sc.armed.Store(true)
			io.WriteString(w, "stuck") // blocks in the connection's Write, holding the write lock
		}), nil)
	})
	defer close(sc.release)
	rc := dialRaw(t, addr)
	rc.headers(1, true, rc.block("/waits"))
	rc.headers(3, true, rc.block("/stuck"))
	<-sc.entered
	// These need answers the stuck write lock cannot give at once; the
	// reset after them must still reach the waiting stream.
	rc.fr.WritePing(false, [8]byte{1})
	rc.fr.WriteSettings()
	rc.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the reset was not read while a write was stuck")
	}
}
