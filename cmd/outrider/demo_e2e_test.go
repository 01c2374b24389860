package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/demo"
	"github.com/outrider-mesh/outrider/demo/sampleapp"
)

// demoBinaries builds outrider, outrider-proxy and outrider-init into a
// directory only root may enter, inside tmp, a directory anyone may: the
// demo must then share the programs it runs as other users, in tmp.
func demoBinaries(t *testing.T) (dir, tmp string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the demo test needs root, and CI runs as root")
		}
		t.Skip("the demo needs root to create network namespaces; run as root to test it")
	}
	tmp, err := os.MkdirTemp("", "outrider-demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(tmp, "bin")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"outrider", "outrider-proxy", "outrider-init"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "github.com/outrider-mesh/outrider/cmd/"+cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", cmd, err, out)
		}
	}
	return dir, tmp
}

// demoCommand is `outrider demo` from dir, sharing its programs in tmp.
func demoCommand(ctx context.Context, dir, tmp string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "outrider"), append([]string{"demo", "--json"}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	// Killed with its process group if the test times out.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

func TestTheDemoShowsRetriesAndInterceptionAndLeavesNothingBehind(t *testing.T) {
	dir, tmp := demoBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := demoCommand(ctx, dir, tmp, "--duration", "5s", "--failure-rate", "0.2")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("outrider demo: %v\n%s", err, stderr.String())
	}
	var r demo.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, stdout.String())
	}
	t.Logf("view:\n%s", stderr.String())

	for _, c := range r.Checks {
		if !c.OK {
			t.Errorf("check %s: %s", c.Name, c.Detail)
		}
	}
	for _, f := range r.Protocols {
		t.Run(string(f.Protocol), func(t *testing.T) {
			if f.Sent == 0 || f.ServerRequests == 0 {
				t.Fatalf("no traffic: %+v", f)
			}
			if f.Protocol == sampleapp.TCP {
				if f.SuccessRate != 1 {
					t.Errorf("the TCP echo succeeded %.3f of the time, want always", f.SuccessRate)
				}
				return
			}
			// 20% of attempts fail, and two retries leave 0.8% of requests
			// failed; without the retries the app would see 20%.
			if f.SuccessRate < 0.9 {
				t.Errorf("the app saw %.3f of its requests succeed, want about all of them", f.SuccessRate)
			}
			if f.WireFailures == 0 || f.SidecarFailures != f.WireFailures {
				t.Errorf("the server failed %d attempts on purpose and its sidecar counted %d; want some, the same", f.WireFailures, f.SidecarFailures)
			}
			if f.AppFailures >= f.WireFailures {
				t.Errorf("the app saw %d of the %d failures on the wire", f.AppFailures, f.WireFailures)
			}
		})
	}
	if c := r.Sidecars.Client; c.Retries == 0 || c.RetrySuccess == 0 {
		t.Errorf("the client sidecar retried %d times, %d successfully", c.Retries, c.RetrySuccess)
	}
	if in := r.Interception; len(in.Peers) != 1 || in.Peers["127.0.0.6"] == 0 || in.WithRequestID != in.Requests || in.LastRequestID == "" {
		t.Errorf("the server saw %+v; want every request from 127.0.0.6 with an x-request-id", in)
	}
	checkNothingLeft(t, r, tmp)
}

func TestCtrlCStopsTheDemoAndCleansUp(t *testing.T) {
	dir, tmp := demoBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	cmd := demoCommand(ctx, dir, tmp, "--protocols", "http,tcp")
	cmd.Stdout = &stdout
	view, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the view shows traffic through the sidecars.
	var seen strings.Builder
	sc := bufio.NewScanner(view)
	for traffic := false; !traffic; {
		if !sc.Scan() {
			cmd.Wait()
			t.Fatalf("the demo ended before showing traffic:\n%s", seen.String())
		}
		seen.WriteString(sc.Text() + "\n")
		traffic = strings.Contains(sc.Text(), "peers 127.0.0.6")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(view)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("outrider demo after Ctrl-C: %v\n%s%s", err, seen.String(), rest)
	}
	var r demo.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, stdout.String())
	}
	if !r.Final || r.Setup.Duration != 0 || len(r.Protocols) != 2 || r.Protocols[0].Sent == 0 || r.Protocols[1].Sent == 0 {
		t.Errorf("report %+v; want a final report of HTTP and TCP traffic", r)
	}
	checkNothingLeft(t, r, tmp)
}

// checkNothingLeft checks that the demo removed its namespaces, its
// processes are gone, and so are the copies of its programs.
func checkNothingLeft(t *testing.T, r demo.Report, tmp string) {
	t.Helper()
	if r.Cleanup == nil || len(r.Cleanup.Namespaces) != 3 || len(r.Cleanup.Processes) != 4 || len(r.Cleanup.Left) != 0 {
		t.Fatalf("cleanup %+v; want three namespaces and four processes removed, nothing left", r.Cleanup)
	}
	netns, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	prefix := strings.TrimSuffix(r.Cleanup.Namespaces[0], "node")
	for _, e := range netns {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("namespace %s is left", e.Name())
		}
	}
	for _, pid := range r.Cleanup.Processes {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d is left", pid)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, p := range procs {
		if exe, err := os.Readlink(p); err == nil && strings.HasPrefix(exe, tmp) {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			t.Errorf("process %d still runs %s", pid, exe)
		}
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "localpod-bin-*"))
	if len(left) != 0 {
		t.Errorf("copies of the programs are left: %v", left)
	}
}
