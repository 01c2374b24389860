package pods_test

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/bench/load"
	"github.com/outrider-mesh/outrider/bench/pods"
	"github.com/outrider-mesh/outrider/localpod"
)

func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// requestsSeen sums the sidecar's downstream request counters, read from
// its admin API inside the pod.
func requestsSeen(t *testing.T, pod *localpod.Pod) uint64 {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: pod.DialContext, DisableKeepAlives: true}}
	resp, err := c.Get("http://127.0.0.1:15000/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum uint64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if ok && strings.HasPrefix(name, "http.") && strings.HasSuffix(name, ".downstream_rq_total") {
			n, _ := strconv.ParseUint(value, 10, 64)
			sum += n
		}
	}
	return sum
}

func TestLoadFromTheClientPodReachesTheServerPodWithAndWithoutSidecars(t *testing.T) {
	if err := pods.Available(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	proxy, err := localpod.ShareExecutable(build(t, dir, "github.com/outrider-mesh/outrider/cmd/outrider-proxy"))
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(filepath.Dir(proxy))
	m, err := pods.Start(pods.Options{ProxyBin: proxy, InitBin: build(t, dir, "github.com/outrider-mesh/outrider/cmd/outrider-init"), CPU: -1, BodySize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.Plain.Sidecars) != 0 || len(m.Sidecars.Sidecars) != 2 {
		t.Fatalf("%d sidecars without, %d with; want 0 and 2", len(m.Plain.Sidecars), len(m.Sidecars.Sidecars))
	}
	pace := load.Pace{Connections: 2, QPS: 100, Duration: 300 * time.Millisecond}
	for _, tc := range []struct {
		name     string
		pair     *pods.Pair
		sidecars bool
	}{
		{name: "without sidecars", pair: m.Plain},
		{name: "through both sidecars", pair: m.Sidecars, sidecars: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before [2]uint64
			if tc.sidecars {
				before = [2]uint64{requestsSeen(t, tc.pair.Client), requestsSeen(t, tc.pair.Server)}
			}
			p := pace
			p.In = tc.pair.Client.Do
			res, err := load.RunHTTP(load.HTTP{URL: "http://" + tc.pair.HTTP + "/", Pace: p})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests < 10 || res.Errors != 0 {
				t.Fatalf("%d requests, %d errors", res.Requests, res.Errors)
			}
			g, err := load.RunGRPC(load.GRPC{Addr: tc.pair.GRPC, Pace: p})
			if err != nil || g.Errors != 0 {
				t.Fatalf("gRPC: %v, %d errors", err, g.Errors)
			}
			tcp, err := load.RunTCP(load.TCP{Addr: tc.pair.TCP, Connections: 1, Duration: 100 * time.Millisecond, Received: tc.pair.Backend.Received, In: tc.pair.Client.Do})
			if err != nil || tcp.Bytes == 0 {
				t.Fatalf("TCP: %v, %d bytes", err, tcp.Bytes)
			}
			if !tc.sidecars {
				return
			}
			for i, pod := range []*localpod.Pod{tc.pair.Client, tc.pair.Server} {
				if got := requestsSeen(t, pod) - before[i]; got < uint64(res.Requests) {
					t.Errorf("the %s sidecar counted %d requests, want at least %d", pod.Name, got, res.Requests)
				}
			}
		})
	}
}
