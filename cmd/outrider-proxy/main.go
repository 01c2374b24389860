// Command outrider-proxy is Outrider's data plane: the sidecar proxy that
// runs beside the application in every pod. It reads an Envoy v3 bootstrap.
//
//	outrider-proxy -c FILE                 run with a bootstrap (YAML or JSON)
//	outrider-proxy --validate -c FILE      check a bootstrap, print every error with its path
//	outrider-proxy --sidecar               run as a pod's sidecar (sidecar.go, docs/sidecar.md)
//	outrider-proxy bootstrap --sidecar     print the sidecar's bootstrap
//	outrider-proxy wait                    wait until the sidecar is ready (postStart hook)
//	outrider-proxy --version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/server"
	"github.com/outrider-mesh/outrider/proxy/sidecar"
	"github.com/outrider-mesh/outrider/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type flags struct {
	configPath  string
	validate    bool
	showVersion bool
	logLevel    string
	drainTime   time.Duration
	exitOnZero  bool
	sidecar     *sidecarFlags
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("outrider-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.configPath, "c", "", "path to the Envoy v3 bootstrap (YAML or JSON)")
	fs.StringVar(&f.configPath, "config-path", "", "same as -c")
	fs.BoolVar(&f.validate, "validate", false, "load and validate the configuration, print every error with its field path, and exit")
	fs.BoolVar(&f.showVersion, "version", false, "print the version and exit")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: trace, debug, info, warning, error, critical, off")
	fs.DurationVar(&f.drainTime, "drain-time", 5*time.Second, "how long to drain connections after SIGTERM")
	fs.BoolVar(&f.exitOnZero, "exit-on-zero-active-connections", false, "end the drain as soon as no downstream connection is left")
	f.sidecar = addSidecarFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	if code, ok := subcommand(args, stdout, stderr); ok {
		return code
	}
	f, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "outrider-proxy:", err)
		return 2
	}
	if f.showVersion {
		fmt.Fprintln(stdout, "outrider-proxy", version.String())
		return 0
	}
	if f.sidecar.enabled && f.configPath != "" {
		fmt.Fprintln(stderr, "outrider-proxy: --sidecar builds its own configuration; drop -c")
		return 2
	}
	if f.validate {
		if f.sidecar.enabled {
			return validateSidecar(f.sidecar, stdout, stderr)
		}
		return validate(f.configPath, stdout, stderr)
	}

	level := new(slog.LevelVar)
	if err := setLevel(level, f.logLevel); err != nil {
		fmt.Fprintln(stderr, "outrider-proxy:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	opts := server.Options{
		ConfigPath:                  f.configPath,
		DrainTime:                   f.drainTime,
		ExitOnZeroActiveConnections: f.exitOnZero,
		Log:                         log,
		LogLevel:                    level,
		CommandLine:                 append([]string{"outrider-proxy"}, args...),
	}
	if f.configPath != "" && !f.sidecar.enabled {
		opts.Load = func() (*bootstrapv3.Bootstrap, error) { return loadConfig(f.configPath) }
	}
	var sc sidecar.Options
	if f.sidecar.enabled {
		if sc, err = f.sidecar.configure(&opts); err != nil {
			fmt.Fprintln(stderr, "outrider-proxy:", err)
			return 2
		}
	}
	// Signals are caught from here on: one that arrives while the server
	// starts is acted on once it is up, instead of killing the process.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	srv := server.New(opts)
	if err := srv.Start(context.Background()); err != nil {
		fmt.Fprintln(stderr, "outrider-proxy: cannot start:")
		fmt.Fprintln(stderr, indent(err.Error()))
		return 1
	}
	if f.sidecar.enabled {
		ports, err := listenSidecarPorts(sc, srv)
		if err != nil {
			srv.Close()
			fmt.Fprintln(stderr, "outrider-proxy: cannot start:", err)
			return 1
		}
		defer ports.Close()
	}
	releaseConfigMemory()
	return lifecycle(srv, sigs, log)
}

// lifecycle waits for signals: SIGHUP reloads, SIGTERM/SIGINT drain and
// exit, a second SIGTERM/SIGINT exits at once, /quitquitquit exits.
func lifecycle(srv *server.Server, sigs <-chan os.Signal, log *slog.Logger) int {
	for {
		select {
		case <-srv.Quit():
			log.Info("outrider-proxy: exiting on /quitquitquit")
			srv.Close()
			return 0
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				_ = srv.Reload() // logged and counted by the server
				releaseConfigMemory()
				continue
			}
			log.Info("outrider-proxy: draining", "signal", sig.String())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				srv.Shutdown(ctx)
				close(done)
			}()
			for {
				select {
				case <-done:
					cancel()
					log.Info("outrider-proxy: drained, exiting")
					return 0
				case <-srv.Quit():
					cancel()
					<-done
					return 0
				case s := <-sigs:
					if s == syscall.SIGHUP {
						_ = srv.Reload()
						releaseConfigMemory()
						continue
					}
					log.Warn("outrider-proxy: second signal, exiting now", "signal", s.String())
					cancel()
					<-done
					return 0
				}
			}
		}
	}
}

func validate(path string, stdout, stderr io.Writer) int {
	if path == "" {
		fmt.Fprintln(stderr, "outrider-proxy: --validate needs -c FILE")
		return 2
	}
	b, err := config.Load(path)
	if err == nil {
		err = server.Validate(b)
	}
	if err != nil {
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	fmt.Fprintf(stdout, "configuration '%s' OK\n", path)
	return 0
}

// setLevel maps Envoy's log level names onto slog's.
func setLevel(v *slog.LevelVar, name string) error {
	l, err := server.ParseLevel(name)
	if err != nil {
		return err
	}
	v.Set(l)
	return nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
