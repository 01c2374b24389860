// Command outrider is Outrider's control-plane and command-line tool: sidecar injection
// (`inject`, `uninject`, `webhook`) and the tools built around the proxy.
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

	"github.com/outrider-mesh/outrider/version"
)

// command is one subcommand. Adding a subcommand is adding a row to commands.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env *stdio) error
}

// stdio is what a command reads and writes, so tests can run commands in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

var commands = []command{
	{"demo", "run two pods with sidecars on this machine and watch the mesh at work (root)", runDemo},
	{"inject", "add the Outrider sidecar to Kubernetes manifests", runInject},
	{"uninject", "remove the Outrider sidecar from Kubernetes manifests", runUninject},
	{"webhook", "serve the sidecar-injection admission webhook", runWebhook},
	{"version", "print the version", runVersion},
}

// errUsage reports a command-line mistake; the command has already printed its usage.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}

// run dispatches to the subcommand and returns the process exit code.
func run(ctx context.Context, args []string, env *stdio) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.err)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], env)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(env.err, "outrider %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(env.err, "outrider: unknown command %q\n\n", args[0])
	usage(env.err)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: outrider <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'outrider <command> -h' for a command's flags.")
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name, args string, env *stdio) *flag.FlagSet {
	fs := flag.NewFlagSet("outrider "+name, flag.ContinueOnError)
	fs.SetOutput(env.err)
	fs.Usage = func() {
		fmt.Fprintf(env.err, "Usage: outrider %s %s\n\nFlags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args into fs, mapping mistakes to errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %q\n", fs.Args())
		fs.Usage()
		return errUsage
	}
	return nil
}

func runVersion(_ context.Context, args []string, env *stdio) error {
	if err := parse(newFlags("version", "", env), args); err != nil {
		return err
	}
	fmt.Fprintln(env.out, version.String())
	return nil
}
