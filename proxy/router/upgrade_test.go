package router

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wsEcho accepts a websocket upgrade and echoes raw bytes; it does not
// frame messages: the proxy only moves bytes.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "not an upgrade", http.StatusBadRequest)
		return
	}
	conn, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Upgraded-Path: " + r.URL.Path + "\r\n\r\n")
	brw.Flush()
	io.Copy(conn, brw.Reader)
}

func TestWebsocketUpgradeEchoes(t *testing.T) {
	up := h1Upstream(t, wsEcho)
	p := newProxy(t, staticCluster("ws", false, "", up), routeTo("ws", ""))
	conn, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Upgraded-Path") != "/chat" {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
	for _, msg := range []string{"hello", "over the proxy", strings.Repeat("x", 100000)} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("echo of %d bytes differs", len(msg))
		}
	}
	conn.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after close: %q %v", rest, err)
	}
	if info := p.lastInfo(); info.ResponseCode != 101 || info.UpstreamHost != up {
		t.Errorf("stream info: code %d host %s", info.ResponseCode, info.UpstreamHost)
	}
}

func TestUpgradeRefusedByTheUpstreamIsAnOrdinaryResponse(t *testing.T) {
	up := h1Upstream(t, echo)
	p := newProxy(t, staticCluster("plain", false, "", up), routeTo("plain", ""))
	resp, body := get(t, h1Client(t), "GET", p.url+"/", "", "Upgrade", "websocket", "Connection", "Upgrade")
	if resp.StatusCode != 200 || body != "echo:" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestStrictDNSClusterThroughTheRouter(t *testing.T) {
	up := h2Upstream(t, echo)
	_, port, _ := net.SplitHostPort(up)
	p := newProxy(t, `
- name: dns
  type: STRICT_DNS
  dns_lookup_family: V4_ONLY
  typed_extension_protocol_options:
    envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
      "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
      explicit_http_config: {http2_protocol_options: {}}
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: {address: {socket_address: {address: localhost, port_value: `+port+`}}}
`, routeTo("dns", ", auto_host_rewrite: true"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.clusters.WaitWarm(ctx); err != nil {
		t.Fatal(err)
	}
	resp, _ := get(t, h1Client(t), "GET", p.url+"/", "")
	if resp.StatusCode != 200 || resp.Header.Get("X-Seen-Host") != "localhost" {
		t.Fatalf("got %d, upstream saw host %q", resp.StatusCode, resp.Header.Get("X-Seen-Host"))
	}
}
