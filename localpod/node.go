// Package localpod runs Kubernetes-like pods on one Linux machine, as network
// namespaces, for end-to-end tests and for `outrider demo`.
//
// A Node is a network namespace holding a bridge; each Pod is a network
// namespace joined to that bridge by a veth pair, with an IPv4 and an IPv6
// address, lo up, and a default route through the node. Pods reach each other
// directly over the bridge; nothing is routed off the machine, and the
// namespaces have no DNS.
//
// Processes run inside a pod as a chosen UID/GID (the proxy as 1337, the
// application as another user), get SIGKILL if the process that started them
// dies (Pdeathsig), and are killed by PID when the node closes. Go code can
// also run inside a pod in-process: Pod.Do, Pod.Listen and Pod.Dial create
// sockets that stay in the pod's namespace.
//
// Namespace names are "<prefix>-<pid>-<n>-node" and "<prefix>-<pid>-<n>-<pod>",
// unique per process, so parallel test runs do not collide; Sweep removes the
// namespaces of processes that died without closing their nodes.
//
// Typical use in a test:
//
//	node := localpod.NewTestNode(t, localpod.Options{}) // skips unless root
//	server, _ := node.AddPod("server")
//	ln, _ := server.Listen("tcp", ":8080")
//	proxy, _ := server.Start(exec.Command(bin, "--sidecar"), localpod.User{UID: 1337, GID: 1337})
//
// Everything needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and the ip command
// (iproute2).
package localpod

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPrefix starts the names of the namespaces a Node creates when
// Options.Prefix is empty.
const DefaultPrefix = "outrider"

// Default pod subnets. The node's bridge takes the first address, pods the
// following ones in the order they are added.
var (
	DefaultSubnetV4 = netip.MustParsePrefix("10.77.0.0/24")
	DefaultSubnetV6 = netip.MustParsePrefix("fd77::/64")
)

// Options configure a Node. The zero value is ready to use.
type Options struct {
	// Prefix starts every namespace name; empty means DefaultPrefix. It
	// must be lowercase letters, digits and dashes.
	Prefix string
	// SubnetV4 and SubnetV6 hold the bridge's and the pods' addresses;
	// zero means DefaultSubnetV4 / DefaultSubnetV6. Every node has its own
	// bridge, so nodes may reuse a subnet.
	SubnetV4, SubnetV6 netip.Prefix
	// NoIPv6 gives pods IPv4 addresses only.
	NoIPv6 bool
}

// Node is a network namespace with a bridge that pods attach to. Close
// removes it, its pods and every process started in them.
type Node struct {
	// NetNS is the name of the node's namespace (ip netns list shows it).
	NetNS string
	// GatewayV4 and GatewayV6 are the bridge's addresses, the pods' default
	// gateways. GatewayV6 is invalid when IPv6 is off.
	GatewayV4, GatewayV6 netip.Addr

	base string
	opts Options

	mu     sync.Mutex
	pods   []*Pod
	procs  []*Process
	closed bool
}

var (
	nodeSeq       atomic.Int64
	sweepOwnStale sync.Once
	prefixRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	podNameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)
)

// NewNode creates the node namespace and its bridge.
func NewNode(opts Options) (*Node, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if !prefixRE.MatchString(opts.Prefix) {
		return nil, fmt.Errorf("localpod: prefix %q: want lowercase letters, digits and dashes", opts.Prefix)
	}
	if !opts.SubnetV4.IsValid() {
		opts.SubnetV4 = DefaultSubnetV4
	}
	if !opts.SubnetV6.IsValid() {
		opts.SubnetV6 = DefaultSubnetV6
	}
	if !opts.SubnetV4.Addr().Is4() || opts.SubnetV4.Bits() > 29 {
		return nil, fmt.Errorf("localpod: IPv4 subnet %s: want an IPv4 prefix of /29 or wider", opts.SubnetV4)
	}
	if !opts.SubnetV6.Addr().Is6() || opts.SubnetV6.Bits() > 120 {
		return nil, fmt.Errorf("localpod: IPv6 subnet %s: want an IPv6 prefix of /120 or wider", opts.SubnetV6)
	}
	opts.SubnetV4, opts.SubnetV6 = opts.SubnetV4.Masked(), opts.SubnetV6.Masked()

	// Namespaces named after our PID but not created by this process are
	// left over from an earlier process that had the same PID.
	sweepOwnStale.Do(func() { _, _ = sweep(opts.Prefix, func(pid int) bool { return pid == os.Getpid() }) })

	n := &Node{opts: opts}
	n.base = fmt.Sprintf("%s-%d-%d", opts.Prefix, os.Getpid(), nodeSeq.Add(1))
	n.NetNS = n.base + "-node"
	n.GatewayV4 = opts.SubnetV4.Addr().Next()
	script := []string{
		"link set lo up",
		"link add br0 type bridge",
		fmt.Sprintf("addr add %s/%d dev br0", n.GatewayV4, opts.SubnetV4.Bits()),
	}
	if !opts.NoIPv6 {
		n.GatewayV6 = opts.SubnetV6.Addr().Next()
		script = append(script, fmt.Sprintf("addr add %s/%d dev br0 nodad", n.GatewayV6, opts.SubnetV6.Bits()))
	}
	script = append(script, "link set br0 up")

	if err := addNetNS(n.NetNS); err != nil {
		return nil, err
	}
	if err := noDAD(n.NetNS); err != nil {
		return nil, errors.Join(err, delNetNS(n.NetNS))
	}
	if err := ipBatch(n.NetNS, script); err != nil {
		return nil, errors.Join(err, delNetNS(n.NetNS))
	}
	return n, nil
}

// AddPod creates a pod namespace attached to the node's bridge and returns it
// once its addresses are usable. name must be a DNS label of up to 32
// characters, unique on the node.
func (n *Node) AddPod(name string) (*Pod, error) {
	if !podNameRE.MatchString(name) {
		return nil, fmt.Errorf("localpod: pod name %q: want lowercase letters, digits and dashes, at most 32", name)
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, errors.New("localpod: node is closed")
	}
	if slices.ContainsFunc(n.pods, func(p *Pod) bool { return p.Name == name }) {
		n.mu.Unlock()
		return nil, fmt.Errorf("localpod: pod %q exists", name)
	}
	index := len(n.pods) + 1
	p := &Pod{Name: name, NetNS: n.base + "-" + name, node: n}
	n.pods = append(n.pods, p)
	n.mu.Unlock()

	var ok bool
	p.IPv4, ok = nthAddr(n.opts.SubnetV4, index+1)
	if !ok {
		return nil, fmt.Errorf("localpod: subnet %s is full", n.opts.SubnetV4)
	}
	if !n.opts.NoIPv6 {
		p.IPv6, _ = nthAddr(n.opts.SubnetV6, index+1)
	}
	if err := p.create(fmt.Sprintf("veth%d", index)); err != nil {
		return nil, err
	}
	return p, nil
}

// create makes the pod's namespace, its veth pair and its addresses.
func (p *Pod) create(hostEnd string) error {
	n := p.node
	if err := addNetNS(p.NetNS); err != nil {
		return err
	}
	// Before eth0 moves in, so that it inherits the namespace's defaults.
	if err := noDAD(p.NetNS); err != nil {
		return err
	}
	if err := ipBatch(n.NetNS, []string{
		fmt.Sprintf("link add %s type veth peer name eth0 netns %s", hostEnd, p.NetNS),
		fmt.Sprintf("link set %s master br0 up", hostEnd),
	}); err != nil {
		return err
	}
	script := []string{
		"link set lo up",
		fmt.Sprintf("addr add %s/%d dev eth0", p.IPv4, n.opts.SubnetV4.Bits()),
	}
	if p.IPv6.IsValid() {
		script = append(script, fmt.Sprintf("addr add %s/%d dev eth0 nodad", p.IPv6, n.opts.SubnetV6.Bits()))
	}
	script = append(script, "link set eth0 up", "route add default via "+n.GatewayV4.String())
	if p.IPv6.IsValid() {
		script = append(script, "route add default via "+n.GatewayV6.String())
	}
	return ipBatch(p.NetNS, script)
}

// Pods returns the node's pods in the order they were added.
func (n *Node) Pods() []*Pod {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.pods)
}

// Close kills every process started in the node's pods (by PID: its process
// group, then anything else left in the namespaces) and deletes the pod and
// node namespaces. It is safe to call more than once.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	procs, pods := n.procs, n.pods
	n.mu.Unlock()

	var errs []error
	for _, p := range procs {
		if err := p.kill(5 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range pods {
		errs = append(errs, removeNetNS(p.NetNS))
	}
	errs = append(errs, removeNetNS(n.NetNS))
	return errors.Join(errs...)
}

func (n *Node) track(p *Process) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("localpod: node is closed")
	}
	n.procs = append(n.procs, p)
	return nil
}

// nthAddr returns the i-th address of prefix p (0 is the network address).
func nthAddr(p netip.Prefix, i int) (netip.Addr, bool) {
	a := p.Addr()
	for ; i > 0; i-- {
		a = a.Next()
	}
	return a, p.Contains(a) && a.Next().IsValid() && p.Contains(a.Next())
}

// Available returns nil when this process can create namespaces, and
// otherwise what is missing.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("localpod: needs root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("localpod: needs the ip command (iproute2; run scripts/deps.sh)")
	}
	return nil
}

// ipBatch runs ip commands in namespace ns with one ip process.
func ipBatch(ns string, lines []string) error {
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("localpod: ip -n %s: %w: %s\nscript:\n%s", ns, err, strings.TrimSpace(string(out)), strings.Join(lines, "\n"))
	}
	return nil
}
