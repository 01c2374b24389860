package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/outrider-mesh/outrider/localpod"
)

// Who the demo's processes run as: the proxy as Istio's 1337, which the
// redirect rules exclude, the application as an ordinary user whose
// connections they capture.
var (
	proxyUser = localpod.User{UID: 1337, GID: 1337}
	appUser   = localpod.User{UID: 1000, GID: 1000}
)

// The sidecar's ports, on the pod's loopback.
const (
	adminURL = "http://127.0.0.1:15000"
	readyURL = "http://127.0.0.1:15021/healthz/ready"
)

// sidecar is a pod's running proxy.
type sidecar struct {
	pod  *localpod.Pod
	proc *localpod.Process
	log  *tail
}

// installRules runs outrider-init in the pod, as its init container would.
func installRules(ctx context.Context, pod *localpod.Pod, init string) error {
	if out, err := pod.CombinedOutput(ctx, init); err != nil {
		return fmt.Errorf("demo: outrider-init in pod %s: %w\n%s", pod.Name, err, out)
	}
	return nil
}

// startSidecar starts `outrider-proxy --sidecar` in the pod as UID 1337,
// with the pod's identity in its environment as the injector would set it.
func startSidecar(pod *localpod.Pod, proxy string) (*sidecar, error) {
	log := newTail(32 << 10)
	cmd := exec.Command(proxy, "--sidecar", "--access-log", "off")
	cmd.Env = []string{
		"POD_NAME=" + pod.Name, "POD_NAMESPACE=demo", "SERVICE_ACCOUNT=" + pod.Name,
		"POD_IP=" + pod.IPv4.String(),
	}
	if pod.IPv6.IsValid() {
		cmd.Env = append(cmd.Env, "INSTANCE_IPS="+pod.IPv4.String()+","+pod.IPv6.String())
	}
	cmd.Stdout, cmd.Stderr = log, log
	proc, err := pod.Start(cmd, proxyUser)
	if err != nil {
		return nil, fmt.Errorf("demo: starting the sidecar in pod %s: %w", pod.Name, err)
	}
	return &sidecar{pod: pod, proc: proc, log: log}, nil
}

// client is an HTTP client for the pod's loopback; a new connection each
// time, so that nothing stays open in the pod.
func (s *sidecar) client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: s.pod.DialContext, DisableKeepAlives: true}}
}

// waitReady polls /healthz/ready as the kubelet's readiness probe does.
func (s *sidecar) waitReady(ctx context.Context) error {
	c := s.client()
	for {
		resp, err := c.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.proc.Done():
			return fmt.Errorf("demo: the sidecar of pod %s exited: %v\n%s", s.pod.Name, s.proc.Wait(), s.log)
		case <-ctx.Done():
			return fmt.Errorf("demo: the sidecar of pod %s is not ready: %w\n%s", s.pod.Name, context.Cause(ctx), s.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stats reads the sidecar's counters from its admin API.
func (s *sidecar) stats(ctx context.Context) (map[string]uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/stats", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("demo: reading the stats of pod %s's sidecar: %w", s.pod.Name, err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("demo: reading the stats of pod %s's sidecar: %s %v", s.pod.Name, resp.Status, err)
	}
	return parseStats(string(page)), nil
}

// app is a running `outrider demo app` process whose reports (JSON lines
// on its standard output) are of type R.
type app[R any] struct {
	name    string
	proc    *localpod.Process
	log     *tail
	final   chan struct{} // closed on the final report or when the output ends
	updated chan struct{} // receives when a report arrived since the last receive

	mu     sync.Mutex
	latest R
}

// startApp runs `outrider demo app <args>` in pod as the application user.
func startApp[R any](pod *localpod.Pod, bin, name string, isFinal func(R) bool, args ...string) (*app[R], error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	a := &app[R]{name: name, log: newTail(16 << 10), final: make(chan struct{}), updated: make(chan struct{}, 1)}
	cmd := exec.Command(bin, append([]string{"demo", "app"}, args...)...)
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = w, a.log
	a.proc, err = pod.Start(cmd, appUser)
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("demo: starting the %s: %w", name, err)
	}
	go a.read(r, isFinal)
	return a, nil
}

func (a *app[R]) read(r io.ReadCloser, isFinal func(R) bool) {
	defer r.Close()
	defer close(a.final)
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rep R
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			fmt.Fprintf(a.log, "demo: unreadable report: %v\n", err)
			continue
		}
		a.mu.Lock()
		a.latest = rep
		a.mu.Unlock()
		select {
		case a.updated <- struct{}{}:
		default:
		}
		if isFinal(rep) {
			io.Copy(io.Discard, r)
			return
		}
	}
}

// report returns the latest report.
func (a *app[R]) report() R {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.latest
}

// stop asks the app to stop (SIGTERM) and waits for its final report, or
// kills it once ctx is done.
func (a *app[R]) stop(ctx context.Context) error {
	a.proc.Signal(sigterm)
	select {
	case <-a.final:
	case <-ctx.Done():
		a.proc.Kill()
		return fmt.Errorf("demo: the %s did not stop in time\n%s", a.name, a.log)
	}
	select {
	case <-a.proc.Done():
		return nil
	case <-ctx.Done():
		a.proc.Kill()
		return fmt.Errorf("demo: the %s did not exit after its last report\n%s", a.name, a.log)
	}
}

// tail keeps the last bytes a process wrote, to explain a failure.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
