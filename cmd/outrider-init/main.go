// Command outrider-init installs, in the current network namespace, the
// netfilter rules that send a pod's TCP connections through the Outrider
// sidecar, as an init container does before the application starts; with
// --cleanup it removes them again.
//
// Outbound TCP goes to the proxy's outbound port (15001) unless the proxy's
// UID/GID opened it or it stays on loopback; inbound TCP goes to the inbound
// port (15006) unless its port is excluded; the proxy reaches the application
// from 127.0.0.6 (::6), which is never captured. Flags are named like
// istio-iptables'. Rules go in with nftables (table inet outrider) or
// iptables-restore (chains OUTRIDER_*), never both; see docs/interception.md.
//
// It links no Kubernetes library: it must start fast in a small image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/outrider-mesh/outrider/redirect"
	"github.com/outrider-mesh/outrider/redirect/iptables"
	"github.com/outrider-mesh/outrider/redirect/loopback"
	"github.com/outrider-mesh/outrider/redirect/nftables"
	"github.com/outrider-mesh/outrider/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// options are the command line, parsed but not yet checked.
type options struct {
	proxyUID, proxyGID        uint
	outboundPort, inboundPort uint
	inboundPorts              string
	excludeInboundPorts       string
	outboundPorts             string
	excludeOutboundPorts      string
	outboundCIDRs             string
	excludeOutboundCIDRs      string
	ipv6                      string
	backend                   string
	dryRun, cleanup, version  bool
}

func (o *options) register(fs *flag.FlagSet) {
	fs.UintVar(&o.proxyUID, "proxy-uid", redirect.DefaultProxyUID, "UID the proxy runs as; its connections are never captured")
	fs.UintVar(&o.proxyGID, "proxy-gid", redirect.DefaultProxyGID, "GID the proxy runs as; connections of processes in it are never captured")
	fs.UintVar(&o.outboundPort, "outbound-port", redirect.DefaultOutboundPort, "port the proxy takes redirected outbound connections on")
	fs.UintVar(&o.inboundPort, "inbound-port", redirect.DefaultInboundPort, "port the proxy takes redirected inbound connections on")
	fs.StringVar(&o.inboundPorts, "inbound-ports", "*", "inbound destination ports to capture: '*' for all, '' for none, or a list like 8080,9090")
	fs.StringVar(&o.excludeInboundPorts, "exclude-inbound-ports", "",
		"inbound ports never captured, in addition to the proxy's own 15000,15020,15021,15090")
	fs.StringVar(&o.outboundPorts, "outbound-ports", "",
		"outbound destination ports captured whatever the destination address ('*' for all)")
	fs.StringVar(&o.excludeOutboundPorts, "exclude-outbound-ports", "", "outbound destination ports never captured")
	fs.StringVar(&o.outboundCIDRs, "outbound-cidrs", "*",
		"outbound destinations to capture: '*' for all, '' for none (then only --outbound-ports), or CIDRs like 10.96.0.0/12,fd00::/8")
	fs.StringVar(&o.excludeOutboundCIDRs, "exclude-outbound-cidrs", "", "outbound destination CIDRs never captured; exclusions win over inclusions")
	fs.StringVar(&o.ipv6, "ipv6", "auto", "install IPv6 rules and add ::6 to lo: auto (when the pod has a global IPv6 address), on or off")
	fs.StringVar(&o.backend, "backend", redirect.Auto,
		"auto, nftables or iptables; auto keeps the backend whose rules exist, else prefers nftables")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the exact ruleset that would be installed, and change nothing")
	fs.BoolVar(&o.cleanup, "cleanup", false, "remove the rules and the ::6 address outrider-init installed, and nothing else")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
}

// config checks the options and reports every problem at once.
func (o *options) config(hasIPv6 func() bool) (redirect.Config, error) {
	c := redirect.DefaultConfig()
	var errs []error
	bad := func(flag string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
		}
	}
	id := func(flag string, v uint) uint32 {
		if v > 1<<32-2 {
			bad(flag, fmt.Errorf("%d is not a UID/GID", v))
		}
		return uint32(v)
	}
	port := func(flag string, v uint) uint16 {
		if v == 0 || v > 65535 {
			bad(flag, fmt.Errorf("%d is not a port (1-65535)", v))
		}
		return uint16(v)
	}
	var err error
	c.ProxyUID, c.ProxyGID = id("proxy-uid", o.proxyUID), id("proxy-gid", o.proxyGID)
	c.OutboundPort, c.InboundPort = port("outbound-port", o.outboundPort), port("inbound-port", o.inboundPort)
	c.InboundPorts, err = redirect.ParsePortSet(o.inboundPorts)
	bad("inbound-ports", err)
	c.ExcludeInboundPorts, err = redirect.ParsePorts(o.excludeInboundPorts)
	bad("exclude-inbound-ports", err)
	c.OutboundPorts, err = redirect.ParsePortSet(o.outboundPorts)
	bad("outbound-ports", err)
	c.ExcludeOutboundPorts, err = redirect.ParsePorts(o.excludeOutboundPorts)
	bad("exclude-outbound-ports", err)
	c.OutboundCIDRs, err = redirect.ParseCIDRSet(o.outboundCIDRs)
	bad("outbound-cidrs", err)
	c.ExcludeOutboundCIDRs, err = redirect.ParseCIDRs(o.excludeOutboundCIDRs)
	bad("exclude-outbound-cidrs", err)
	switch o.ipv6 {
	case "on":
		c.IPv6 = true
	case "off":
	case "auto":
		c.IPv6 = hasIPv6()
	default:
		bad("ipv6", fmt.Errorf("%q: want auto, on or off", o.ipv6))
	}
	switch o.backend {
	case redirect.Auto, "nftables", "iptables":
	default:
		bad("backend", fmt.Errorf("%q: want auto, nftables or iptables", o.backend))
	}
	if o.dryRun && o.cleanup {
		errs = append(errs, errors.New("--dry-run and --cleanup exclude each other"))
	}
	if len(errs) == 0 {
		errs = append(errs, c.Validate())
	}
	return c, errors.Join(errs...)
}

// env is what run needs from the machine, so that tests can pin it.
type env struct {
	hasIPv6      func() bool
	checkPrivs   func() error
	backends     []redirect.Backend
	inboundSrcV6 func(add bool) error
}

func defaultEnv() env {
	return env{
		hasIPv6:    podHasIPv6,
		checkPrivs: checkNetAdmin,
		backends:   []redirect.Backend{&nftables.Backend{}, &iptables.Backend{}},
		inboundSrcV6: func(add bool) error {
			if add {
				return loopback.Add(redirect.InboundSourceV6)
			}
			if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
				return nil // no IPv6 in this kernel: no ::6 to remove
			}
			if ok, err := loopback.Has(redirect.InboundSourceV6); err != nil || !ok {
				return err
			}
			return loopback.Remove(redirect.InboundSourceV6)
		},
	}
}

// usage prints the flags the way users of istio-iptables write them: --name.
func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, "usage: outrider-init [flags]\n\n"+
		"Installs the rules that send this network namespace's TCP connections through\n"+
		"the Outrider sidecar; run it in the pod's init container. See docs/interception.md.\n\nflags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		if name != "" {
			name = " " + name
		}
		fmt.Fprintf(w, "  --%s%s\n    \t%s", f.Name, name, help)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIn(ctx, defaultEnv(), args, stdout, stderr)
}

func runIn(ctx context.Context, e env, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("outrider-init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs, stderr) }
	var o options
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "outrider-init: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUsage
	}
	if o.version {
		fmt.Fprintln(stdout, "outrider-init", version.String())
		return exitOK
	}
	cfg, err := o.config(e.hasIPv6)
	if err != nil {
		fmt.Fprintf(stderr, "outrider-init: %v\n", strings.ReplaceAll(err.Error(), "\n", "\noutrider-init: "))
		return exitUsage
	}
	switch {
	case o.dryRun:
		err = dryRun(ctx, e, cfg, o.backend, stdout, stderr)
	case o.cleanup:
		err = cleanup(ctx, e, o.backend, stdout)
	default:
		err = install(ctx, e, cfg, o.backend, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "outrider-init: %v\n", err)
		return exitFail
	}
	return exitOK
}
