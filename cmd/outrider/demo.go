package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/outrider-mesh/outrider/demo"
	"github.com/outrider-mesh/outrider/demo/sampleapp"
)

// demoAvailable reports whether the demo can make pods here; tests replace it.
var demoAvailable func() error

// runDemo is `outrider demo`: two pods with sidecars on this machine, a
// sample app sending load across them, watched live (docs/demo.md).
func runDemo(ctx context.Context, args []string, env *stdio) error {
	if len(args) > 0 && args[0] == "app" {
		return runDemoApp(ctx, args[1:], env)
	}
	fs := newFlags("demo", "[flags]", env)
	duration := fs.Duration("duration", 0, "how long to send load, e.g. 30s (default: until Ctrl-C)")
	rate := fs.Float64("rate", 10, "requests per second per protocol")
	failureRate := fs.Float64("failure-rate", 0.2, "share of HTTP and gRPC requests the server fails on purpose (503, UNAVAILABLE), 0 to 1")
	protocols := fs.String("protocols", "all", "protocols to send load over: http, grpc, tcp, comma-separated, or all")
	binDir := fs.String("bin-dir", "", "directory holding outrider-init and outrider-proxy (default: next to this executable, then $PATH)")
	asJSON := fs.Bool("json", false, "print the final report as JSON on standard output; the live view goes to standard error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *rate <= 0 {
		return fmt.Errorf("--rate %v: want more than 0", *rate)
	}
	ps, err := sampleapp.ParseProtocols(*protocols)
	if err != nil {
		fmt.Fprintf(env.err, "--protocols: %v\n", err)
		return errUsage
	}
	view := env.out
	if *asJSON {
		view = env.err
	}
	tty, width, height := terminal(view)
	live := demo.NewLive(view, tty, width, height)
	rep, err := demo.Run(ctx, demo.Options{
		Duration: *duration, Rate: *rate, FailureRate: *failureRate, Protocols: ps,
		BinDir: *binDir, Progress: live.Update, Log: env.err, Available: demoAvailable,
	})
	if rep.Final {
		live.Final(rep)
	}
	if rep.Cleanup != nil {
		fmt.Fprintf(view, "\nCleaned up: deleted network namespaces %s (and the rules in them); stopped processes %v.\n",
			strings.Join(rep.Cleanup.Namespaces, ", "), rep.Cleanup.Processes)
	}
	if *asJSON && rep.Final {
		enc := json.NewEncoder(env.out)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rep); jerr != nil {
			err = errors.Join(err, jerr)
		}
	}
	if err != nil {
		// The command's name already says where the error comes from.
		return errors.New(strings.TrimPrefix(err.Error(), "demo: "))
	}
	if !rep.OK() {
		var failed []string
		for _, c := range rep.Checks {
			if !c.OK && !c.Pending {
				failed = append(failed, c.Name)
			}
		}
		return fmt.Errorf("the demo did not show what it should: %s", strings.Join(failed, ", "))
	}
	return nil
}

// terminal reports whether w is a terminal, and its size.
func terminal(w io.Writer) (tty bool, width, height int) {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false, 0, 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return false, 0, 0
	}
	return true, int(ws.Col), int(ws.Row)
}
