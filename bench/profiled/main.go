// Command profiled is outrider-proxy with profiling, for the benchmark
// harness only: the same server assembly (proxy/server) run from a file,
// writing a CPU profile and an allocation profile of the whole run to
// $OUTRIDER_PROFILE_DIR (cpu.pprof, allocs.pprof) when it gets SIGTERM or
// SIGINT. The allocation profile is taken before the server closes, so
// its inuse_space view shows what the running proxy holds. The shipped proxy has no profiling endpoint; this keeps it so.
//
// It takes outrider-proxy's flags that the harness passes (-c, --log-level,
// --exit-on-zero-active-connections) so that bench/peers starts it the same
// way.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/outrider-mesh/outrider/proxy/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "profiled:", err)
		os.Exit(1)
	}
}

func run() error {
	var configPath, logLevel string
	flag.StringVar(&configPath, "c", "", "bootstrap file")
	flag.StringVar(&logLevel, "log-level", "warning", "log level")
	flag.Bool("exit-on-zero-active-connections", false, "accepted for outrider-proxy compatibility; ignored")
	flag.Parse()
	dir := os.Getenv("OUTRIDER_PROFILE_DIR")
	if dir == "" {
		return fmt.Errorf("OUTRIDER_PROFILE_DIR is not set")
	}
	level, err := server.ParseLevel(logLevel)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cpu, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return err
	}
	defer cpu.Close()
	srv := server.New(server.Options{ConfigPath: configPath, Log: log, CommandLine: os.Args})
	if err := srv.Start(context.Background()); err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	pprof.StopCPUProfile()
	defer srv.Close()

	allocs, err := os.Create(filepath.Join(dir, "allocs.pprof"))
	if err != nil {
		return err
	}
	defer allocs.Close()
	runtime.GC()
	return pprof.Lookup("allocs").WriteTo(allocs, 0)
}
