package tcpproxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outrider-mesh/outrider/proxy/cluster"
	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

var _ network.Filter = (*Proxy)(nil)

// session is one proxied connection.
type session struct {
	down, up net.Conn
	once     sync.Once
	timedOut atomic.Bool
}

// close closes both sides at once (drain deadline, idle timeout, errors).
func (s *session) close() {
	s.once.Do(func() {
		s.down.Close()
		if s.up != nil {
			s.up.Close()
		}
	})
}

// ServeConn proxies c to an endpoint of the configured cluster.
func (px *Proxy) ServeConn(ctx context.Context, c *network.Conn) {
	defer c.Close()
	px.st.cxTotal.Inc()
	px.st.active.Inc()
	defer px.st.active.Dec()

	info := &streaminfo.Info{
		Start:               time.Now(),
		DownstreamLocal:     c.Local,
		DownstreamRemote:    c.Remote,
		DownstreamDirect:    c.Remote,
		RequestedServerName: c.ServerName,
		ListenerName:        c.ListenerName,
		FilterChainName:     c.FilterChainName,
		DownstreamTLS:       c.TLS,
	}
	defer px.logAccess(info)

	name := px.pickCluster()
	info.ClusterName = name
	var up network.Upstream
	if px.lookup != nil {
		up = px.lookup(name)
	}
	if up == nil {
		px.st.noRoute.Inc()
		info.AddFlag(failure.NoClusterFound)
		return
	}
	upc, err := px.connect(ctx, up, c, info)
	if err != nil {
		px.st.connectFail.Inc()
		_, flags, _ := failure.Reply(err)
		if flags == 0 {
			flags = failure.UpstreamConnectionFailure
		}
		info.AddFlag(flags)
		info.UpstreamTransportFailureReason = err.Error()
		return
	}
	s := &session{down: c.Conn, up: upc}
	if !px.register(s) {
		s.close()
		return
	}
	defer px.unregister(s)
	if px.maxDuration > 0 {
		t := time.AfterFunc(px.maxDuration, func() {
			px.st.maxDuration.Inc()
			s.close()
		})
		defer t.Stop()
	}
	px.pipe(s, c, info)
	s.close()
	if s.timedOut.Load() {
		px.st.idleTimeout.Inc()
	}
}

// pickCluster chooses the cluster of this connection by weight.
func (px *Proxy) pickCluster() string {
	if len(px.clusters) == 1 {
		return px.clusters[0].name
	}
	n := rand.Uint64N(px.totalWeight)
	for _, c := range px.clusters {
		if n < c.weight {
			return c.name
		}
		n -= c.weight
	}
	return px.clusters[len(px.clusters)-1].name
}

// connect picks a host and dials it, up to max_connect_attempts times.
func (px *Proxy) connect(ctx context.Context, up network.Upstream, c *network.Conn, info *streaminfo.Info) (net.Conn, error) {
	lb := &cluster.LBContext{OriginalDst: c.Local}
	var err error
	for attempt := 0; attempt < px.attempts; attempt++ {
		var h *cluster.Host
		h, err = up.Pick(lb)
		if err != nil {
			return nil, err
		}
		info.Attempts++
		if h != nil {
			info.UpstreamHost = h.Address().String()
			lb.Previous = append(lb.Previous, h)
		}
		var conn net.Conn
		conn, err = up.DialTCP(ctx, h)
		if err == nil {
			if ra, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
				info.UpstreamHost = ra.String()
			}
			info.UpstreamLocal = conn.LocalAddr().String()
			return conn, nil
		}
		var fe *failure.Error
		if errors.As(err, &fe) && fe.Flag == failure.UpstreamOverflow {
			return nil, err // retrying an overflow only adds load
		}
	}
	return nil, err
}

// pipe copies both ways until both directions have seen EOF, or an error
// or the idle timeout ends the session.
func (px *Proxy) pipe(s *session, c *network.Conn, info *streaminfo.Info) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // downstream → upstream
		defer wg.Done()
		n, err := px.copyDown(s, c)
		info.BytesReceived.Add(uint64(n))
		info.UpstreamBytesSent.Add(uint64(n))
		px.finish(s, s.up, err)
	}()
	go func() { // upstream → downstream
		defer wg.Done()
		n, err := px.copy(s, c.Conn, s.up)
		info.BytesSent.Add(uint64(n))
		info.UpstreamBytesRecv.Add(uint64(n))
		px.finish(s, c.Conn, err)
	}()
	wg.Wait()
	info.ResponseComplete = time.Since(info.Start)
}

// finish ends one direction: on EOF the FIN is passed on (CloseWrite on
// the receiving side) so the peer may still answer; on any other error,
// the whole session is closed.
func (px *Proxy) finish(s *session, dst net.Conn, err error) {
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.timedOut.Store(true)
		}
		s.close()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	s.close()
}

// copyDown first flushes what listener filters peeked, then copies from
// the socket itself (the reader holds nothing more once drained).
func (px *Proxy) copyDown(s *session, c *network.Conn) (int64, error) {
	var total int64
	if n := c.Reader.Buffered(); n > 0 {
		b, _ := c.Reader.Peek(n)
		w, err := s.up.Write(b)
		total += int64(w)
		px.st.rxBytes.Add(uint64(w))
		c.Reader.Discard(n)
		if err != nil {
			return total, err
		}
	}
	n, err := px.copy(s, s.up, c.Conn)
	return total + n, err
}

var buffers = sync.Pool{New: func() any { b := make([]byte, 16*1024); return &b }}

// copy moves bytes from src to dst and returns nil at EOF. Without an
// idle timeout it uses io.Copy, which splices between TCP sockets;
// with one, every read extends the deadlines of both sockets.
func (px *Proxy) copy(s *session, dst, src net.Conn) (int64, error) {
	counter := px.st.txBytes
	if src != s.up {
		counter = px.st.rxBytes
	}
	if px.idleTimeout <= 0 {
		n, err := io.Copy(dst, src)
		counter.Add(uint64(n))
		return n, err
	}
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	var total int64
	for {
		deadline := time.Now().Add(px.idleTimeout)
		src.SetReadDeadline(deadline)
		n, err := src.Read(buf)
		if n > 0 {
			// The other direction may be idle while this one is busy:
			// keep its read alive too.
			s.down.SetReadDeadline(deadline)
			s.up.SetReadDeadline(deadline)
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			counter.Add(uint64(w))
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// register tracks s for Drain; false when the drain deadline has passed.
func (px *Proxy) register(s *session) bool {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.sessions[s] = struct{}{}
	return true
}

func (px *Proxy) unregister(s *session) {
	px.mu.Lock()
	delete(px.sessions, s)
	px.mu.Unlock()
}

// Drain closes the proxy's connections once the drain time has passed:
// an opaque byte stream has no way to ask the peer to finish sooner.
func (px *Proxy) Drain() {
	px.mu.Lock()
	defer px.mu.Unlock()
	if !px.drainAt.IsZero() {
		return
	}
	px.drainAt = time.Now().Add(px.drainTime)
	time.AfterFunc(px.drainTime, func() {
		px.mu.Lock()
		defer px.mu.Unlock()
		for s := range px.sessions {
			s.close()
		}
	})
}

func (px *Proxy) logAccess(info *streaminfo.Info) {
	if info.ResponseComplete == 0 {
		info.ResponseComplete = time.Since(info.Start)
	}
	if px.accessLog != nil {
		px.accessLog.Log(info)
	}
}

var _ = netip.AddrPort{}
