package peers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Options start one proxy.
type Options struct {
	Kind Kind
	// Config is rendered into Dir; zero Ports are filled with free ones.
	Config Config
	// Binary is the proxy's executable; empty means "haproxy" or "nginx"
	// from PATH or /usr/sbin (Outrider's must be given).
	Binary string
	// CPU pins the proxy to that CPU (with taskset); -1 leaves it free.
	CPU int
	// Nice runs the proxy at that niceness (with nice); zero leaves it.
	Nice int
	// Env adds environment variables (Outrider gets GOMAXPROCS=1 anyway).
	Env []string
	// ReadyTimeout bounds the wait for every listener; zero means 15 s.
	ReadyTimeout time.Duration
}

// Process is a running proxy.
type Process struct {
	Kind  Kind
	Ports Ports
	PID   int
	// Dir holds its configuration file and its log (proxy.log).
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// LookPath finds a peer's executable, also in /usr/sbin, which is not on
// every PATH.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("peers: %s not found (scripts/bench-deps.sh installs it)", name)
	}
	return p, nil
}

// Start renders the configuration, starts the proxy pinned to its CPU, and
// returns once every listener accepts connections (and, for Outrider, the
// admin API says /ready).
func Start(o Options) (*Process, error) {
	if o.Config.Dir == "" {
		return nil, errors.New("peers: Config.Dir is empty")
	}
	if err := os.MkdirAll(o.Config.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("peers: %w", err)
	}
	if o.Config.Ports == (Ports{}) {
		p, err := FreePorts(5)
		if err != nil {
			return nil, err
		}
		o.Config.Ports = Ports{Admin: p[0], HTTP1: p[1], H2: p[2], GRPC: p[3], TCP: p[4]}
	}
	if o.Kind == Nginx && o.Config.NginxStreamModule == "" {
		if m := "/usr/lib/nginx/modules/ngx_stream_module.so"; fileExists(m) {
			o.Config.NginxStreamModule = m
		}
	}
	text, err := Render(o.Kind, o.Config)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(o.Config.Dir, templateOf[o.Kind][:len(templateOf[o.Kind])-len(".tmpl")])
	if err := os.WriteFile(cfgPath, text, 0o644); err != nil {
		return nil, fmt.Errorf("peers: %w", err)
	}
	bin := o.Binary
	if bin == "" {
		if o.Kind == Outrider {
			return nil, errors.New("peers: Outrider needs Options.Binary")
		}
		if bin, err = LookPath(string(o.Kind)); err != nil {
			return nil, err
		}
	}
	var args []string
	switch o.Kind {
	case Outrider:
		args = []string{bin, "-c", cfgPath, "--log-level", "warning", "--exit-on-zero-active-connections"}
	case HAProxy:
		args = []string{bin, "-db", "-f", cfgPath}
	case Nginx:
		args = []string{bin, "-p", o.Config.Dir, "-c", cfgPath, "-e", "stderr"}
	}
	if o.CPU >= 0 {
		args = append([]string{"taskset", "-c", strconv.Itoa(o.CPU)}, args...)
	}
	if o.Nice != 0 {
		args = append([]string{"nice", "-n", strconv.Itoa(o.Nice)}, args...)
	}
	logPath := filepath.Join(o.Config.Dir, "proxy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("peers: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = o.Config.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), o.Env...)
	if o.Kind == Outrider {
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	}
	// The proxy must not outlive a harness killed mid-run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("peers: start %s: %w", o.Kind, err)
	}
	p := &Process{Kind: o.Kind, Ports: o.Config.Ports, PID: cmd.Process.Pid, Dir: o.Config.Dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	timeout := o.ReadyTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	if err := p.waitReady(timeout); err != nil {
		p.Stop()
		return nil, fmt.Errorf("peers: %s not ready: %w\n%s", o.Kind, err, tail(logPath))
	}
	return p, nil
}

func (p *Process) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ports := []int{p.Ports.HTTP1, p.Ports.H2, p.Ports.GRPC, p.Ports.TCP}
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited: %v", p.err)
		default:
		}
		err := p.probe(ports, client)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *Process) probe(ports []int, client *http.Client) error {
	for _, port := range ports {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err != nil {
			return err
		}
		c.Close()
	}
	if p.Kind != Outrider {
		return nil
	}
	resp, err := client.Get("http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Ports.Admin)) + "/ready")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/ready answered %d", resp.StatusCode)
	}
	return nil
}

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Stop asks the proxy to exit (SIGTERM), kills it after 3 s, and waits.
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// FreePorts returns n loopback ports that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("peers: free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// tail returns the end of a log, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// GoHeap returns the Go heap in use ("allocated" in the admin API's
// /memory), for Outrider only.
func (p *Process) GoHeap() (uint64, error) {
	if p.Kind != Outrider {
		return 0, fmt.Errorf("peers: %s has no Go heap", p.Kind)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Ports.Admin)) + "/memory")
	if err != nil {
		return 0, fmt.Errorf("peers: %w", err)
	}
	defer resp.Body.Close()
	var m struct {
		Allocated string `json:"allocated"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return 0, fmt.Errorf("peers: /memory: %w", err)
	}
	n, err := strconv.ParseUint(m.Allocated, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("peers: /memory allocated: %w", err)
	}
	return n, nil
}
