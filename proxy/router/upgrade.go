package router

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/outrider-mesh/outrider/proxy/failure"
	"github.com/outrider-mesh/outrider/proxy/upstream"
)

// proxyUpgrade forwards a websocket upgrade on a connection of its own
// and, on 101 Switching Protocols, joins the two connections byte for byte.
// The upstream is always spoken to in HTTP/1.1, where upgrades exist.
func (x *exchange) proxyUpgrade() {
	lb := x.lbContext()
	host, err := x.c.Pick(&lb)
	if err != nil {
		localReply(x.w, x.r, x.info, err)
		return
	}
	x.info.UpstreamHost = host.String()
	x.info.Attempts = 1
	out := &x.out
	outRequest(out, x.ctx, x.r, &x.url, x.path, x.authorityFor(host), x.r.Body)
	x.st.RqTotal.Inc()
	x.st.RqActive.Inc()
	resp, upConn, upBuf, err := host.Pool().Upgrade(out)
	if err != nil {
		x.st.RqActive.Dec()
		x.replyError(x.classify(x.ctx, err, host), host)
		return
	}
	x.st.RecordStatus(resp.StatusCode)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		x.respond(resp, host, x.info.Start, 1)
		return
	}
	defer x.st.RqActive.Dec()
	x.info.ResponseCode = resp.StatusCode
	x.info.ResponseCodeDetails = "via_upstream"
	down, downBuf, err := x.w.(http.Hijacker).Hijack()
	if err != nil {
		upConn.Close()
		x.info.AddFlag(failure.DownstreamConnectionTermination)
		return
	}
	// Write the 101 ourselves: the downstream writer is gone now.
	downBuf.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	resp.Header.Write(downBuf)
	downBuf.WriteString("\r\n")
	if err := downBuf.Flush(); err != nil {
		down.Close()
		upConn.Close()
		return
	}
	x.stopTimers() // an upgraded stream lives as long as its peers
	if uc, ok := upConn.(*upstream.Conn); ok {
		uc.ForBulk() // a byte stream from now on, as a tcp_proxy's
	}
	pipe(down, downBuf.Reader, upConn, upBuf)
	x.st.RqCompleted.Inc()
}

func (x *exchange) stopTimers() {
	if x.timer != nil {
		x.timer.stop()
	}
	if x.idle != nil {
		x.idle.Stop()
	}
}

// pipe copies both ways until both directions end, passing each end of
// stream on as a half-close where the connection allows it.
func pipe(down net.Conn, downBuf *bufio.Reader, up net.Conn, upBuf *bufio.Reader) {
	var wg sync.WaitGroup
	wg.Add(2)
	one := func(dst net.Conn, src io.Reader, srcConn net.Conn) {
		defer wg.Done()
		_, err := io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
			cw.CloseWrite()
			return
		}
		// No half-close: end both directions.
		dst.Close()
		srcConn.Close()
	}
	go one(up, downBuf, down)
	go one(down, upBuf, up)
	wg.Wait()
	down.Close()
	up.Close()
}
