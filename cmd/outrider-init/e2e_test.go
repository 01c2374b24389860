package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/internal/proctest"
	"github.com/outrider-mesh/outrider/localpod"
)

// End-to-end: two pods in network namespaces, outrider-init run in each, and
// in each a forwarder on :15001 and :15006 running as UID 1337 in place of the
// proxy. App servers answer on the same ports in both pods and report the
// peer they saw and the forwarders a connection crossed, nearest first
// ("via=in,out": the server's inbound forwarder, then the client's outbound).

var (
	proxyUser = localpod.User{UID: 1337, GID: 1337}
	appUser   = localpod.User{UID: 1000, GID: 1000}
	appPorts  = []string{"8080", "9090", "15021"}
)

type sidecarPod struct {
	*localpod.Pod
	forwarders map[string]*localpod.Process // by mode: "out", "in"
}

// newSidecarPod adds a pod with app servers on appPorts and, unless bare,
// the two forwarders.
func newSidecarPod(t *testing.T, node *localpod.Node, name string, bare bool) *sidecarPod {
	t.Helper()
	p := &sidecarPod{Pod: node.AddTestPod(t, name), forwarders: map[string]*localpod.Process{}}
	for _, port := range appPorts {
		ln, err := p.Listen("tcp", ":"+port)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go serveApp(ln)
	}
	if !bare {
		p.startForwarder(t, "out", "15001")
		p.startForwarder(t, "in", "15006")
	}
	return p
}

func (p *sidecarPod) startForwarder(t *testing.T, mode, port string) {
	t.Helper()
	cmd := exec.Command(helperBinary(t), mode, port)
	cmd.Env = append(os.Environ(), roleEnv+"=forward")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &proctest.Output{}
	cmd.Stderr = stderr
	proc, err := p.Start(cmd, proxyUser)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && stderr.String() != "" {
			t.Logf("%s forwarder %s said:\n%s", p.Name, mode, stderr.String())
		}
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		if l != "ready" {
			t.Fatalf("%s forwarder %s: %q; stderr: %s", p.Name, mode, l, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s forwarder %s not ready; stderr: %s", p.Name, mode, stderr.String())
	}
	p.forwarders[mode] = proc
}

// outriderInit runs outrider-init inside the pod as root and returns its
// output; a failure fails the test unless allowFail.
func (p *sidecarPod) outriderInit(t *testing.T, allowFail bool, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(helperBinary(t), args...)
	cmd.Env = append(os.Environ(), roleEnv+"=init")
	cmd.Stdout, cmd.Stderr = &out, &out
	err := p.Run(cmd, localpod.Root)
	if err != nil && !allowFail {
		t.Fatalf("outrider-init %s in %s: %v\n%s", strings.Join(args, " "), p.Name, err, out.String())
	}
	return out.String(), err
}

// talkAs connects from the pod to addr as user (in-process as root for
// "app-root") and returns the app server's answer.
func (p *sidecarPod) talkAs(t *testing.T, user string, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	users := map[string]localpod.User{
		"app":       appUser,
		"proxy":     proxyUser,
		"proxy-gid": {UID: 1000, GID: 1337},
	}
	if user == "app-root" {
		reply, err := talk(ctx, func(ctx context.Context) (net.Conn, error) { return p.DialContext(ctx, "tcp", addr) })
		if err != nil {
			return "error: " + err.Error()
		}
		return reply
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, helperBinary(t), addr)
	cmd.Env = append(os.Environ(), roleEnv+"=dial")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := p.Run(cmd, users[user]); err != nil {
		t.Fatalf("dial as %s: %v\n%s", user, err, out.String())
	}
	return strings.TrimSpace(out.String())
}

func backendsToTest(t *testing.T) []string {
	backends := []string{"nftables"}
	if _, err := exec.LookPath("iptables-restore"); err == nil {
		backends = append(backends, "iptables")
	} else if os.Getenv("CI") == "true" {
		t.Error("iptables is not installed; scripts/deps.sh installs it")
	}
	return backends
}

func TestConnectionsAreCapturedExactlyAsTheRulesSay(t *testing.T) {
	for _, backend := range backendsToTest(t) {
		t.Run(backend, func(t *testing.T) {
			node := localpod.NewTestNode(t, localpod.Options{})
			client := newSidecarPod(t, node, "client", false)
			server := newSidecarPod(t, node, "server", false)
			hostPort := func(a fmt.Stringer, port string) string { return net.JoinHostPort(a.String(), port) }
			s4, s6 := hostPort(server.IPv4, "8080"), hostPort(server.IPv6, "8080")
			c4, c6 := client.IPv4.String(), client.IPv6.String()

			for _, tc := range []struct {
				name       string
				clientArgs []string
				serverArgs []string
				user       string
				to         string
				want       string
			}{
				{name: "an app's connection crosses both sidecars and the app sees 127.0.0.6",
					user: "app", to: s4, want: "peer=127.0.0.6 via=in,out"},
				{name: "an app's IPv6 connection crosses both sidecars and the app sees ::6",
					user: "app", to: s6, want: "peer=::6 via=in,out"},
				{name: "an app running as root is captured too",
					user: "app-root", to: s4, want: "peer=127.0.0.6 via=in,out"},
				{name: "a connection to 127.0.0.1 is not captured",
					user: "app", to: "127.0.0.1:8080", want: "peer=127.0.0.1 via="},
				{name: "a connection to ::1 is not captured",
					user: "app", to: "[::1]:8080", want: "peer=::1 via="},
				{name: "a connection to the pod's own IP is not captured",
					user: "app", to: hostPort(client.IPv4, "8080"), want: "peer=" + c4 + " via="},
				{name: "a connection to the pod's own IPv6 is not captured",
					user: "app", to: hostPort(client.IPv6, "8080"), want: "peer=" + c6 + " via="},
				{name: "the proxy's own connections do not loop",
					user: "proxy", to: s4, want: "peer=127.0.0.6 via=in"},
				{name: "the proxy's own IPv6 connections do not loop",
					user: "proxy", to: s6, want: "peer=::6 via=in"},
				{name: "a process in the proxy's group is not captured",
					user: "proxy-gid", to: s4, want: "peer=127.0.0.6 via=in"},
				{name: "the proxy calling its own pod IP goes through inbound",
					user: "proxy", to: hostPort(client.IPv4, "8080"), want: "peer=127.0.0.6 via=in"},
				{name: "an excluded outbound port bypasses the client's sidecar",
					clientArgs: []string{"--exclude-outbound-ports", "8080"},
					user:       "app", to: s4, want: "peer=127.0.0.6 via=in"},
				{name: "an excluded inbound port bypasses the server's sidecar",
					serverArgs: []string{"--exclude-inbound-ports", "8080"},
					user:       "app", to: s4, want: "peer=" + c4 + " via=out"},
				{name: "the proxy's health port is never captured inbound",
					user: "app", to: hostPort(server.IPv4, "15021"), want: "peer=" + c4 + " via=out"},
				{name: "only listed inbound ports are captured",
					serverArgs: []string{"--inbound-ports", "9090"},
					user:       "app", to: s4, want: "peer=" + c4 + " via=out"},
				{name: "a listed inbound port is captured",
					serverArgs: []string{"--inbound-ports", "9090"},
					user:       "app", to: hostPort(server.IPv4, "9090"), want: "peer=127.0.0.6 via=in,out"},
				{name: "an excluded CIDR bypasses the client's sidecar",
					clientArgs: []string{"--exclude-outbound-cidrs", server.IPv4.String() + "/32"},
					user:       "app", to: s4, want: "peer=127.0.0.6 via=in"},
				{name: "an excluded IPv6 CIDR bypasses the client's sidecar",
					clientArgs: []string{"--exclude-outbound-cidrs", "fd77::/64"},
					user:       "app", to: s6, want: "peer=::6 via=in"},
				{name: "a destination outside the outbound CIDRs is not captured",
					clientArgs: []string{"--outbound-cidrs", "192.0.2.0/24"},
					user:       "app", to: s4, want: "peer=127.0.0.6 via=in"},
				{name: "an outbound port is captured whatever the destination",
					clientArgs: []string{"--outbound-cidrs", "", "--outbound-ports", "8080"},
					user:       "app", to: s4, want: "peer=127.0.0.6 via=in,out"},
				{name: "with IPv6 off IPv6 is not captured",
					clientArgs: []string{"--ipv6", "off"}, serverArgs: []string{"--ipv6", "off"},
					user: "app", to: s6, want: "peer=" + c6 + " via="},
			} {
				t.Run(tc.name, func(t *testing.T) {
					client.outriderInit(t, false, append([]string{"--backend", backend}, tc.clientArgs...)...)
					server.outriderInit(t, false, append([]string{"--backend", backend}, tc.serverArgs...)...)
					if got := client.talkAs(t, tc.user, tc.to); got != tc.want {
						t.Fatalf("got  %q\nwant %q", got, tc.want)
					}
				})
			}
		})
	}
}

func TestWithoutAProxyConnectionsFailInsteadOfBypassing(t *testing.T) {
	for _, backend := range backendsToTest(t) {
		for _, tc := range []struct {
			name                    string
			clientInit, clientProxy bool
			serverProxy             bool
		}{
			{name: "an outbound connection is refused when nothing listens on 15001", clientInit: true, serverProxy: true},
			{name: "an inbound connection is refused when nothing listens on 15006"},
		} {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				node := localpod.NewTestNode(t, localpod.Options{})
				client := newSidecarPod(t, node, "client", !tc.clientProxy)
				server := newSidecarPod(t, node, "server", !tc.serverProxy)
				if tc.clientInit {
					client.outriderInit(t, false, "--backend", backend)
				}
				server.outriderInit(t, false, "--backend", backend)
				for _, to := range []string{
					net.JoinHostPort(server.IPv4.String(), "8080"),
					net.JoinHostPort(server.IPv6.String(), "8080"),
				} {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					reply, err := talk(ctx, func(ctx context.Context) (net.Conn, error) { return client.DialContext(ctx, "tcp", to) })
					cancel()
					if !errors.Is(err, syscall.ECONNREFUSED) {
						t.Fatalf("to %s: got %q, %v; want connection refused", to, reply, err)
					}
				}
			})
		}
	}
}

// snapshot is the namespace state outrider-init may touch: both families'
// iptables-save (without its timestamp comments), nft's whole ruleset, and
// every address.
func snapshot(t *testing.T, pod *localpod.Pod) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"nft", "list", "ruleset"}, {"ip", "addr"}} {
		if _, err := exec.LookPath(args[0]); err != nil {
			continue
		}
		out, err := pod.CombinedOutput(context.Background(), args[0], args[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("## " + strings.Join(args, " ") + "\n")
		for _, line := range strings.SplitAfter(string(out), "\n") {
			if !strings.HasPrefix(line, "#") {
				// An IPv6 address is "tentative" until duplicate address
				// detection ends, a second or two after the pod's link
				// comes up: the kernel's doing, not outrider-init's.
				b.WriteString(strings.Replace(line, " tentative", "", 1))
			}
		}
	}
	return b.String()
}

func TestCleanupLeavesTheNamespaceExactlyAsItWas(t *testing.T) {
	for _, backend := range backendsToTest(t) {
		t.Run(backend, func(t *testing.T) {
			node := localpod.NewTestNode(t, localpod.Options{})
			pod := &sidecarPod{Pod: node.AddTestPod(t, "app")}
			before := snapshot(t, pod.Pod)

			out, _ := pod.outriderInit(t, false, "--backend", backend)
			if !strings.Contains(out, "installed and verified") || !strings.Contains(out, "with "+backend+" (ipv4+ipv6)") {
				t.Fatalf("outrider-init said:\n%s", out)
			}
			installed := snapshot(t, pod.Pod)
			if installed == before || !strings.Contains(installed, "inet6 ::6/128") {
				t.Fatalf("nothing changed, or ::6 is not on lo:\n%s", installed)
			}
			pod.outriderInit(t, false, "--backend", backend)
			if again := snapshot(t, pod.Pod); again != installed {
				t.Fatalf("running twice differs from running once:\n%s\nonce:\n%s", again, installed)
			}

			out, _ = pod.outriderInit(t, false, "--cleanup")
			if !strings.Contains(out, "removed the "+backend+" rules and ::6 from lo") {
				t.Fatalf("outrider-init --cleanup said:\n%s", out)
			}
			if after := snapshot(t, pod.Pod); after != before {
				t.Fatalf("after --cleanup:\n%s\nbefore:\n%s", after, before)
			}
			out, _ = pod.outriderInit(t, false, "--cleanup")
			if !strings.Contains(out, "no rules of outrider-init were installed") {
				t.Fatalf("a second --cleanup said:\n%s", out)
			}
			if after := snapshot(t, pod.Pod); after != before {
				t.Fatalf("after a second --cleanup:\n%s\nbefore:\n%s", after, before)
			}
		})
	}
}

func TestAutoKeepsTheInstalledBackendAndBackendsNeverMix(t *testing.T) {
	backends := backendsToTest(t)
	if len(backends) < 2 {
		t.Skip("needs both backends")
	}
	node := localpod.NewTestNode(t, localpod.Options{})
	pod := &sidecarPod{Pod: node.AddTestPod(t, "app")}
	for _, first := range backends {
		other := backends[0]
		if other == first {
			other = backends[1]
		}
		pod.outriderInit(t, false, "--backend", first)
		if out, _ := pod.outriderInit(t, false); !strings.Contains(out, "with "+first) {
			t.Fatalf("auto after %s chose otherwise:\n%s", first, out)
		}
		out, err := pod.outriderInit(t, true, "--backend", other)
		if err == nil || !strings.Contains(out, first+" rules are installed here; backends must not mix") {
			t.Fatalf("--backend %s over %s rules: %v\n%s", other, first, err, out)
		}
		pod.outriderInit(t, false, "--cleanup")
	}
	if out, _ := pod.outriderInit(t, false); !strings.Contains(out, "with nftables") {
		t.Fatalf("auto on a clean namespace did not prefer nftables:\n%s", out)
	}
}

func TestWithoutPrivilegesItSaysWhatItNeeds(t *testing.T) {
	node := localpod.NewTestNode(t, localpod.Options{})
	pod := node.AddTestPod(t, "app")
	runAs := func(args ...string) (stdout, stderr string, err error) {
		var out, errb bytes.Buffer
		cmd := exec.Command(helperBinary(t), args...)
		cmd.Env = append(os.Environ(), roleEnv+"=init")
		cmd.Stdout, cmd.Stderr = &out, &errb
		err = pod.Run(cmd, appUser)
		return out.String(), errb.String(), err
	}
	for _, args := range [][]string{nil, {"--backend", "nftables"}, {"--backend", "iptables"}, {"--cleanup"}} {
		_, stderr, err := runAs(args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitFail || !strings.Contains(stderr, "outrider-init: needs CAP_NET_ADMIN") {
			t.Errorf("outrider-init %v as UID %d: %v\n%s", args, appUser.UID, err, stderr)
		}
	}
	stdout, stderr, err := runAs("--dry-run")
	if err != nil || !strings.Contains(stdout, "table inet outrider {") || !strings.Contains(stderr, "showing nftables") {
		t.Errorf("--dry-run without privileges: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
}

func TestWithoutIptablesProgramsNftablesStillWorksAndIptablesSaysWhatIsMissing(t *testing.T) {
	node := localpod.NewTestNode(t, localpod.Options{})
	pod := node.AddTestPod(t, "app")
	runBare := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := exec.Command(helperBinary(t), args...)
		cmd.Env = []string{roleEnv + "=init", "PATH=" + t.TempDir()} // no program to find
		cmd.Stdout, cmd.Stderr = &out, &out
		err := pod.Run(cmd, localpod.Root)
		return out.String(), err
	}
	out, err := runBare("--backend", "iptables")
	if err == nil || !strings.Contains(out, "iptables cannot work here: iptables-save not found (install the iptables package)") {
		t.Fatalf("--backend iptables without iptables: %v\n%s", err, out)
	}
	out, err = runBare()
	if err != nil || !strings.Contains(out, "with nftables") {
		t.Fatalf("auto without any program: %v\n%s", err, out)
	}
	if out, err := runBare("--cleanup"); err != nil {
		t.Fatalf("--cleanup without any program: %v\n%s", err, out)
	}
}
