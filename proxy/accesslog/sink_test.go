package accesslog

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"

	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

func TestRequestsOfARealServerAreLoggedWithTheirHeaders(t *testing.T) {
	m := NewManager(nil)
	defer m.Close()
	path := filepath.Join(t.TempDir(), "access.log")
	ls, err := m.Translate([]*accesslogv3.AccessLog{fileLog(t, path,
		textFormat(`%REQ(:METHOD)% %REQ(:PATH)% %REQ(:AUTHORITY)% %PROTOCOL% %RESPONSE_CODE% "%REQ(USER-AGENT)%" %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %BYTES_SENT%`+"\n"), nil)}, "access_log")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := &streaminfo.Info{Start: time.Now(), Request: r, Protocol: r.Proto}
		in.DownstreamRemote, _ = netip.ParseAddrPort(r.RemoteAddr)
		w.WriteHeader(http.StatusTeapot)
		n, _ := w.Write([]byte("short and stout"))
		in.ResponseCode = http.StatusTeapot
		in.BytesSent.Store(uint64(n))
		ls.Log(in)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/pot?fill=1", nil)
	req.Header.Set("User-Agent", "kettle/1.0")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ls.Flush()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `GET /pot?fill=1 ` + strings.TrimPrefix(srv.URL, "http://") + ` HTTP/1.1 418 "kettle/1.0" 127.0.0.1 15` + "\n"
	if string(b) != want {
		t.Errorf("got  %q\nwant %q", b, want)
	}
}

func TestConcurrentStreamsWriteWholeLines(t *testing.T) {
	m := NewManager(nil)
	defer m.Close()
	path := filepath.Join(t.TempDir(), "access.log")
	ls, err := m.Translate([]*accesslogv3.AccessLog{fileLog(t, path, nil, nil)}, "access_log")
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := fullInfo()
			for i := 0; i < each; i++ {
				ls.Log(in)
			}
		}()
	}
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() { // flush while writers run, as the ticker would
		defer close(flushed)
		for {
			select {
			case <-stop:
				return
			default:
				ls.Flush()
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-flushed
	ls.Flush()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := render(t, DefaultFormat, fullInfo(), false)
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) != workers*each {
		t.Fatalf("file holds %d lines, want %d", len(lines), workers*each)
	}
	for i, l := range lines {
		if string(l) != want {
			t.Fatalf("line %d is torn: %q", i, l)
		}
	}
}

func TestTheTimerFlushesWithoutAnExplicitFlush(t *testing.T) {
	m := NewManager(nil)
	defer m.Close()
	path := filepath.Join(t.TempDir(), "access.log")
	ls, err := m.Translate([]*accesslogv3.AccessLog{fileLog(t, path, textFormat("tick\n"), nil)}, "access_log")
	if err != nil {
		t.Fatal(err)
	}
	ls.Log(&streaminfo.Info{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := os.ReadFile(path); string(b) == "tick\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the entry never reached the file")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func BenchmarkLoggerLog(b *testing.B) {
	m := NewManager(nil)
	defer m.Close()
	path := filepath.Join(b.TempDir(), "access.log")
	ls, err := m.Translate([]*accesslogv3.AccessLog{fileLog(b, path, nil, nil)}, "access_log")
	if err != nil {
		b.Fatal(err)
	}
	in := fullInfo()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ls.Log(in)
	}
	b.StopTimer()
	ls.Flush()
}
