package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/proto"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// A large configuration file is parsed in a short-lived child process.
// Parsing YAML builds trees 30–40 times the file's size (a 4.6 MB file of
// 10,000 services peaks at ~167 MB of heap), and the Go runtime keeps the
// span records of its peak heap for good: ~0.5 KB per service at 10,000
// services, a quarter of what a service costs once loaded. The child
// loads and checks the file exactly as the proxy would and writes the
// configuration's wire form; the proxy decodes that, a peak several times
// smaller. Small files, where the peak does not matter, are parsed in the
// proxy itself.

// childLoadMin is the file size from which the child parses it.
const childLoadMin = 256 << 10

// loadConfigCommand is the hidden subcommand the child runs.
const loadConfigCommand = "__load-config"

// childLoadExit is the child's exit code for a configuration that does
// not load; its standard error then holds the error's text.
const childLoadExit = 3

// loadConfig loads the configuration file at path, in a child process
// when the file is large. A child that cannot be started or that dies
// leaves the parsing to this process.
func loadConfig(path string) (*bootstrapv3.Bootstrap, error) {
	st, err := os.Stat(path)
	if err != nil || st.Size() < childLoadMin {
		return config.Load(path)
	}
	exe, err := os.Executable()
	if err != nil {
		return config.Load(path)
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(exe, loadConfigCommand, path)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == childLoadExit:
		return nil, errors.New(strings.TrimSuffix(stderr.String(), "\n"))
	case err != nil:
		return config.Load(path)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := proto.Unmarshal(out.Bytes(), b); err != nil {
		return nil, fmt.Errorf("outrider-proxy: the configuration's wire form from %s: %w", loadConfigCommand, err)
	}
	slog.Debug("outrider-proxy: configuration parsed in a child process", "file", path, "bytes", st.Size())
	return b, nil
}

// runLoadConfig is the child: `outrider-proxy __load-config FILE` writes
// the wire form of FILE's configuration to stdout, or its load error to
// stderr with exit code childLoadExit.
func runLoadConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "usage: outrider-proxy %s FILE\n", loadConfigCommand)
		return 2
	}
	b, err := config.Load(args[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return childLoadExit
	}
	wire, err := proto.Marshal(b)
	if err != nil {
		fmt.Fprintln(stderr, "outrider-proxy:", err)
		return 1
	}
	if _, err := stdout.Write(wire); err != nil {
		return 1
	}
	return 0
}
