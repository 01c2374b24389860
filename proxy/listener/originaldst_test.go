package listener

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// netns creates a network namespace with lo up, runs setup commands in
// it, and deletes it when the test ends.
func netns(t *testing.T, setup ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace and iptables rules")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	name := fmt.Sprintf("outrider-odst-%d", os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	run("ip", "-n", name, "link", "set", "lo", "up")
	for _, cmd := range setup {
		run(append([]string{"ip", "netns", "exec", name, "sh", "-c"}, cmd)...)
	}
	return name
}

// inNetns runs fn on an OS thread inside namespace name. Sockets created
// there stay in the namespace; the thread is discarded afterwards.
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open("/var/run/netns/" + name)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestUseOriginalDstHandsRedirectedConnectionsToTheMatchingListener(t *testing.T) {
	ns := netns(t, "iptables -t nat -A OUTPUT -p tcp -d 127.0.0.1 --dport 9990:9999 -j REDIRECT --to-ports 15001")
	m, _ := newManager(t, backends{"virtual": serve(t, says("virtual")), "target": serve(t, says("target"))})
	virtual := tcpListener(t, "virtual", "virtual")
	virtual.Address = sockAddr("127.0.0.1", 15001)
	virtual.UseOriginalDst = wrapperspb.Bool(true)
	virtual.ListenerFilters = []*listenerv3.ListenerFilter{lfilter(t, "original_dst")}
	target := tcpListener(t, "target", "target")
	target.Address = sockAddr("127.0.0.1", 9999)
	target.BindToPort = wrapperspb.Bool(false)
	inNetns(t, ns, func() { apply(t, m, virtual, target) })

	tests := []struct{ name, dst, want string }{
		{name: "a destination with a listener goes to it", dst: "127.0.0.1:9999", want: "target"},
		{name: "a destination without one stays on the virtual listener", dst: "127.0.0.1:9998", want: "virtual"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			var err error
			inNetns(t, ns, func() {
				var c net.Conn
				c, err = net.DialTimeout("tcp", tt.dst, 5*time.Second)
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				b := make([]byte, len(tt.want))
				var n int
				n, err = io.ReadFull(c, b)
				got = string(b[:n])
			})
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
