package detect

import (
	"net"
	"sync/atomic"
	"time"
)

// LearnWindow bounds how long after a fallback the server's first bytes
// still mark it server-first. Banners (SMTP, MySQL, SSH, FTP) arrive
// within milliseconds of the connection; an HTTP server that answers an idle client with 408 after
// its header timeout, seconds later, must not be mistaken for one.
const LearnWindow = 2 * time.Second

// Who spoke first on a watched connection.
const (
	nobody uint32 = iota
	client
	server
)

// Watch wraps the downstream side of a connection that fell back to TCP
// after a detection timeout. When the first bytes of the connection go to
// the client (Write) before any came from it (Read), and within
// LearnWindow, learn is called once: the destination spoke first.
//
// The returned conn reads and writes c itself; it forwards CloseWrite and
// CloseRead so that half-closes still propagate. It hides c's ReadFrom
// and WriteTo on purpose: splice would move the first bytes without this
// conn seeing them. Only the first connection to a new server-first
// destination pays for that; later ones skip detection and are not
// watched.
func Watch(c net.Conn, learn func()) net.Conn {
	return &watched{Conn: c, learn: learn, until: time.Now().Add(LearnWindow)}
}

type watched struct {
	net.Conn
	first atomic.Uint32
	until time.Time
	learn func()
}

func (w *watched) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	if n > 0 && w.first.Load() == nobody {
		w.first.CompareAndSwap(nobody, client)
	}
	return n, err
}

func (w *watched) Write(b []byte) (int, error) {
	if len(b) > 0 && w.first.Load() == nobody && w.first.CompareAndSwap(nobody, server) {
		if time.Now().Before(w.until) {
			w.learn()
		}
	}
	return w.Conn.Write(b)
}

func (w *watched) CloseWrite() error {
	if cw, ok := w.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return w.Conn.Close()
}

func (w *watched) CloseRead() error {
	if cr, ok := w.Conn.(interface{ CloseRead() error }); ok {
		return cr.CloseRead()
	}
	return nil
}
