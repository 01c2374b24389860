package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/outrider-mesh/outrider/proxy/apphealth"
	"github.com/outrider-mesh/outrider/proxy/sidecar"
)

// subcommand runs `outrider-proxy bootstrap …` or `outrider-proxy wait …`;
// ok is false when args name no subcommand.
func subcommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "bootstrap":
		return runBootstrap(args[1:], stdout, stderr), true
	case "wait":
		return runWait(args[1:], stdout, stderr), true
	case loadConfigCommand:
		return runLoadConfig(args[1:], stdout, stderr), true
	}
	return 0, false
}

// runBootstrap is `outrider-proxy bootstrap --sidecar [sidecar flags]`: it
// prints the bootstrap `--sidecar` would run, as YAML.
func runBootstrap(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("outrider-proxy bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sc := addSidecarFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if !sc.enabled || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: outrider-proxy bootstrap --sidecar [flags]: print the sidecar's bootstrap")
		return 2
	}
	o, err := sc.options(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "outrider-proxy bootstrap:", err)
		return 2
	}
	b, err := sidecar.Bootstrap(o)
	if err != nil {
		fmt.Fprintln(stderr, "outrider-proxy bootstrap:", err)
		return 1
	}
	y, err := sidecar.YAML(b)
	if err != nil {
		fmt.Fprintln(stderr, "outrider-proxy bootstrap:", err)
		return 1
	}
	stdout.Write(y)
	return 0
}

// runWait is `outrider-proxy wait [--url URL] [--timeout D]`: the classic
// sidecar's postStart hook, which holds the application until the proxy
// is ready. It exits 0 once the URL answers 200, 1 on timeout.
func runWait(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("outrider-proxy wait", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", apphealth.DefaultReadyURL, "readiness URL to poll")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long (0: never)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "outrider-proxy wait: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	start := time.Now()
	if err := apphealth.Wait(ctx, *url, *timeout); err != nil {
		fmt.Fprintln(stderr, "outrider-proxy wait:", err)
		return 1
	}
	fmt.Fprintf(stdout, "outrider-proxy is ready (%s)\n", time.Since(start).Round(time.Millisecond))
	return 0
}
