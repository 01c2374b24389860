package localpod_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/localpod"
)

// TestMain lets the test binary play a helper process: one that builds its
// own node, starts a child in a pod, prints the child's PID and waits to be
// killed, to show what happens to what it leaves behind.
func TestMain(m *testing.M) {
	if os.Getenv("LOCALPOD_TEST_ROLE") == "orphan-maker" {
		n, err := localpod.NewNode(localpod.Options{Prefix: os.Getenv("LOCALPOD_TEST_PREFIX")})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		p, err := n.AddPod("lonely")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		child, err := p.Start(exec.Command("sleep", "60"), localpod.Root)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(child.Pid(), p.NetNS, n.NetNS)
		select {}
	}
	os.Exit(m.Run())
}

func TestPodsReachEachOtherOverIPv4AndIPv6(t *testing.T) {
	node := localpod.NewTestNode(t, localpod.Options{})
	a := node.AddTestPod(t, "a")
	b := node.AddTestPod(t, "b")

	for _, tc := range []struct {
		name    string
		network string
		to      string
	}{
		{name: "IPv4 to the other pod", network: "tcp4", to: net.JoinHostPort(b.IPv4.String(), "7000")},
		{name: "IPv6 to the other pod", network: "tcp6", to: net.JoinHostPort(b.IPv6.String(), "7000")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := b.Listen(tc.network, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go serveEcho(ln)
			got := echoFrom(t, a, tc.network, tc.to)
			if host, _, _ := net.SplitHostPort(got); host != addrOf(a, tc.network) {
				t.Fatalf("server saw peer %s, want pod a's address %s", got, addrOf(a, tc.network))
			}
		})
	}
}

func TestEachPodHasItsOwnLoopback(t *testing.T) {
	node := localpod.NewTestNode(t, localpod.Options{})
	a := node.AddTestPod(t, "a")
	b := node.AddTestPod(t, "b")
	ln, err := a.Listen("tcp", "127.0.0.1:7001")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEcho(ln)
	echoFrom(t, a, "tcp", "127.0.0.1:7001")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := b.DialContext(ctx, "tcp", "127.0.0.1:7001")
	if err == nil {
		c.Close()
		t.Fatal("pod b reached pod a's 127.0.0.1, want connection refused")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("got %v, want connection refused", err)
	}
}

func TestStartRunsAsTheUserInsideThePod(t *testing.T) {
	node := localpod.NewTestNode(t, localpod.Options{})
	pod := node.AddTestPod(t, "app")
	proc, err := pod.Start(exec.Command("sleep", "60"), localpod.User{UID: 1337, GID: 1338})
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", proc.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		fields[k] = strings.Join(strings.Fields(v), " ")
	}
	for key, want := range map[string]string{"Uid": "1337 1337 1337 1337", "Gid": "1338 1338 1338 1338", "Groups": ""} {
		if fields[key] != want {
			t.Errorf("process %s is %q, want %q", key, fields[key], want)
		}
	}
	if got, want := nsInode(t, fmt.Sprintf("/proc/%d/ns/net", proc.Pid())), nsInode(t, pod.NetNSPath()); got != want {
		t.Errorf("process is in namespace %d, want the pod's %d", got, want)
	}
	if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := proc.Wait(); err == nil {
		t.Fatal("a killed process reported success")
	}
}

func TestCombinedOutputRunsInThePod(t *testing.T) {
	node := localpod.NewTestNode(t, localpod.Options{})
	pod := node.AddTestPod(t, "app")
	out, err := pod.CombinedOutput(context.Background(), "ip", "-brief", "addr", "show", "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{pod.IPv4.String() + "/24", pod.IPv6.String() + "/64"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("eth0 lacks %s:\n%s", want, out)
		}
	}
	if _, err := pod.CombinedOutput(context.Background(), "false"); err == nil {
		t.Error("a failing command reported success")
	}
}

func TestCloseKillsProcessesAndDeletesNamespaces(t *testing.T) {
	node := localpod.NewTestNode(t, localpod.Options{})
	pod := node.AddTestPod(t, "app")
	proc, err := pod.Start(exec.Command("sleep", "60"), localpod.User{UID: 1000, GID: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// A process that left the group is found by its namespace.
	escaped, err := pod.Start(exec.Command("setsid", "sleep", "60"), localpod.Root)
	if err != nil {
		t.Fatal(err)
	}
	podNS := nsInode(t, pod.NetNSPath())
	// setsid forks; wait for its child to lead a session of its own, out
	// of the process group the node kills first.
	<-escaped.Done()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.ContainsFunc(pidsInNamespace(podNS), sessionLeader) {
		if time.Now().After(deadline) {
			t.Fatal("setsid's child never showed up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
	<-proc.Done()
	<-escaped.Done()
	if pids := pidsInNamespace(podNS); len(pids) > 0 {
		t.Errorf("processes %v still run in the deleted pod's namespace", pids)
	}
	for _, ns := range []string{pod.NetNS, node.NetNS} {
		if _, err := os.Stat("/run/netns/" + ns); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("namespace %s still exists (stat: %v)", ns, err)
		}
	}
	if err := node.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := node.AddPod("late"); err == nil {
		t.Error("AddPod on a closed node succeeded")
	}
}

func TestNodesInOneProcessDoNotCollide(t *testing.T) {
	n1 := localpod.NewTestNode(t, localpod.Options{})
	n2 := localpod.NewTestNode(t, localpod.Options{})
	a1 := n1.AddTestPod(t, "client")
	a2 := n2.AddTestPod(t, "client")
	if n1.NetNS == n2.NetNS || a1.NetNS == a2.NetNS {
		t.Fatalf("names collide: %s %s %s %s", n1.NetNS, n2.NetNS, a1.NetNS, a2.NetNS)
	}
	if !strings.HasPrefix(a1.NetNS, fmt.Sprintf("%s-%d-", localpod.DefaultPrefix, os.Getpid())) {
		t.Errorf("namespace %s does not start with the prefix and PID", a1.NetNS)
	}
	if _, err := n1.AddPod("client"); err == nil {
		t.Error("a second pod with the same name was accepted")
	}
	if _, err := n1.AddPod("Not_A_Label"); err == nil {
		t.Error("an invalid pod name was accepted")
	}
}

func TestChildrenDieWithTheirStarterAndSweepRemovesItsNamespaces(t *testing.T) {
	if err := localpod.Available(); err != nil {
		t.Skip(err)
	}
	prefix := fmt.Sprintf("lpsweep%d", os.Getpid())
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	starter := exec.Command(exe)
	starter.Env = append(os.Environ(), "LOCALPOD_TEST_ROLE=orphan-maker", "LOCALPOD_TEST_PREFIX="+prefix)
	stdout, err := starter.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := starter.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = starter.Process.Kill(); _ = starter.Wait() })
	line, err := readLine(stdout, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var childPid int
	var podNS, nodeNS string
	if _, err := fmt.Sscan(line, &childPid, &podNS, &nodeNS); err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}

	// Live processes keep their namespaces.
	removed, err := localpod.Sweep(prefix)
	if err != nil || len(removed) != 0 {
		t.Fatalf("Sweep with the owner alive removed %v (err %v)", removed, err)
	}

	if err := starter.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = starter.Wait()
	if !gone(childPid, 10*time.Second) {
		t.Fatalf("child %d outlived the process that started it", childPid)
	}

	removed, err = localpod.Sweep(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, " ") != strings.Join(sortedPair(podNS, nodeNS), " ") {
		t.Fatalf("Sweep removed %v, want %s and %s", removed, podNS, nodeNS)
	}
}

func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			fmt.Fprintf(c, "%s\n", c.RemoteAddr())
		}()
	}
}

// echoFrom connects from pod to addr and returns the peer address the
// server saw.
func echoFrom(t *testing.T, pod *localpod.Pod, network, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pod.DialContext(ctx, network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func addrOf(p *localpod.Pod, network string) string {
	if network == "tcp6" {
		return p.IPv6.String()
	}
	return p.IPv4.String()
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// sessionLeader reports whether pid leads its own session (stat field 6).
func sessionLeader(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 3 && f[3] == strconv.Itoa(pid)
}

// pidsInNamespace lists the processes whose network namespace has inode ino.
func pidsInNamespace(ino uint64) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) == nil && st.Ino == ino && !gone(pid, 0) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func readLine(r io.Reader, limit time.Duration) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- result{strings.TrimSpace(line), err}
	}()
	select {
	case r := <-ch:
		return r.line, r.err
	case <-time.After(limit):
		return "", fmt.Errorf("no line within %v", limit)
	}
}

// gone reports whether pid exits (or becomes a zombie) before the limit.
func gone(pid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(b), ") Z") {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sortedPair(a, b string) []string {
	if a > b {
		return []string{b, a}
	}
	return []string{a, b}
}

func TestAnUnprivilegedUserRunsASharedExecutable(t *testing.T) {
	node := localpod.NewTestNode(t, localpod.Options{})
	pod := node.AddTestPod(t, "app")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	private := filepath.Join(t.TempDir(), "private") // t.TempDir is 0700: only root may enter
	if err := os.Symlink(exe, private); err != nil {
		t.Fatal(err)
	}
	user := localpod.User{UID: 1337, GID: 1337}
	if err := pod.Run(exec.Command(private, "-test.run=^$"), user); err == nil {
		t.Fatal("UID 1337 ran a program in a private directory; the test proves nothing")
	}
	shared, err := localpod.ShareExecutable(private)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(filepath.Dir(shared))
	if err := pod.Run(exec.Command(shared, "-test.run=^$"), user); err != nil {
		t.Fatalf("UID 1337 cannot run the shared copy: %v", err)
	}
}
