package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/outrider-mesh/outrider/demo/sampleapp"
)

// runDemoApp is `outrider demo app server|client`: the demo's application,
// started by `outrider demo` inside its pods. It is not listed in the usage:
// people run `outrider demo`. Both write their report (sampleapp's
// ServerReport or ClientReport) as one JSON line at start, every
// --report-interval, and a last time when they stop on SIGINT or SIGTERM.
func runDemoApp(ctx context.Context, args []string, env *stdio) error {
	if len(args) == 0 {
		fmt.Fprintln(env.err, "Usage: outrider demo app server|client [flags]")
		return errUsage
	}
	switch args[0] {
	case "server":
		return runDemoServer(ctx, args[1:], env)
	case "client":
		return runDemoClient(ctx, args[1:], env)
	}
	fmt.Fprintf(env.err, "outrider demo app: unknown role %q: want server or client\n", args[0])
	return errUsage
}

func runDemoServer(ctx context.Context, args []string, env *stdio) error {
	fs := newFlags("demo app server", "[flags]", env)
	addrs := map[sampleapp.Protocol]*string{
		sampleapp.HTTP: fs.String("http", ":"+strconv.Itoa(sampleapp.HTTP.DefaultPort()), "HTTP/1.1 listen address (empty: off)"),
		sampleapp.GRPC: fs.String("grpc", ":"+strconv.Itoa(sampleapp.GRPC.DefaultPort()), "gRPC listen address (empty: off)"),
		sampleapp.TCP:  fs.String("tcp", ":"+strconv.Itoa(sampleapp.TCP.DefaultPort()), "TCP echo listen address (empty: off)"),
	}
	failureRate := fs.Float64("failure-rate", 0, "share of HTTP and gRPC requests failed on purpose (503, UNAVAILABLE), 0 to 1")
	every := fs.Duration("report-interval", time.Second, "how often to write the report")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkInterval(*every); err != nil {
		return err
	}
	cfg := sampleapp.ServerConfig{FailureRate: *failureRate, Addrs: map[sampleapp.Protocol]string{}}
	for p, a := range addrs {
		if *a != "" {
			cfg.Addrs[p] = *a
		}
	}
	s, err := sampleapp.StartServer(cfg)
	if err != nil {
		return err
	}
	err = writeReports(ctx, env.out, *every, func() any { return s.Report() })
	s.Close()
	if err != nil {
		return err
	}
	r := s.Report()
	r.Final = true
	return writeReport(env.out, r)
}

func runDemoClient(ctx context.Context, args []string, env *stdio) error {
	fs := newFlags("demo app client", "--server HOST [flags]", env)
	server := fs.String("server", "", "the server's address, without port (required)")
	protocols := fs.String("protocols", "all", "protocols to send load over: http, grpc, tcp, comma-separated, or all")
	rate := fs.Float64("rate", 10, "requests per second per protocol")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout of each request")
	ports := map[sampleapp.Protocol]*int{
		sampleapp.HTTP: fs.Int("http-port", sampleapp.HTTP.DefaultPort(), "the server's HTTP port"),
		sampleapp.GRPC: fs.Int("grpc-port", sampleapp.GRPC.DefaultPort(), "the server's gRPC port"),
		sampleapp.TCP:  fs.Int("tcp-port", sampleapp.TCP.DefaultPort(), "the server's TCP echo port"),
	}
	every := fs.Duration("report-interval", time.Second, "how often to write the report")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *server == "" {
		fmt.Fprintln(env.err, "--server is required")
		fs.Usage()
		return errUsage
	}
	if err := checkInterval(*every); err != nil {
		return err
	}
	ps, err := sampleapp.ParseProtocols(*protocols)
	if err != nil {
		return err
	}
	cfg := sampleapp.ClientConfig{Rate: *rate, Timeout: *timeout, Targets: map[sampleapp.Protocol]string{}}
	for _, p := range ps {
		cfg.Targets[p] = net.JoinHostPort(*server, strconv.Itoa(*ports[p]))
	}
	c, err := sampleapp.NewClient(cfg)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	err = writeReports(ctx, env.out, *every, func() any { return c.Report() })
	<-done
	if err != nil {
		return err
	}
	return writeReport(env.out, c.Report())
}

func checkInterval(every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("--report-interval %v: want more than 0", every)
	}
	return nil
}

// writeReports writes report() now and every interval until ctx is done.
func writeReports(ctx context.Context, w io.Writer, every time.Duration, report func() any) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := writeReport(w, report()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func writeReport(w io.Writer, r any) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
