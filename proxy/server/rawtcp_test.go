package server

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// Helpers for tests that speak raw bytes to the proxy or play a raw
// upstream, where net/http would refuse to send or to serve what the test
// needs.

// rawBackend accepts connections on loopback and runs serve on each (n
// counts connections from 1). Connections are closed when serve returns
// and at the end of the test.
func rawBackend(t *testing.T, serve func(n int, c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	var n atomic.Int32
	return looptest.Serve(t, func(c net.Conn) {
		serve(int(n.Add(1)), c, bufio.NewReader(c))
	})
}

// readHead reads a message head up to its blank line.
func readHead(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\r\n" || line == "\n" {
			return b.String(), nil
		}
	}
}

// logFormat is the access log format of these tests.
const logFormat = `%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n`

// withAccessLog adds a file access log in logFormat to the connection
// manager of a config made by httpProxyConfig, and returns the config and
// the log's path.
func withAccessLog(t *testing.T, cfg string) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "access.log")
	const anchor = "          stat_prefix: main\n"
	if !strings.Contains(cfg, anchor) {
		t.Fatal("withAccessLog: not a config from httpProxyConfig")
	}
	return strings.Replace(cfg, anchor, anchor+`          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: `+path+`
              log_format: {text_format_source: {inline_string: "`+logFormat+`"}}
`, 1), path
}

// accessLog waits until the log at path has n lines (streams are logged as
// they end, which may be just after the client saw the response) and
// returns them.
func accessLog(t *testing.T, s *Server, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.logs.Flush()
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(b) == 0 {
			lines = nil
		}
		if len(lines) >= n || time.Now().After(deadline) {
			if len(lines) != n {
				t.Fatalf("access log has %d lines, want %d:\n%s", len(lines), n, b)
			}
			return lines
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor polls cond until it holds; the test fails if it does not within
// 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receive waits for a value on ch; the test fails if none comes within 5
// seconds.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received within 5s")
		panic("unreachable")
	}
}
