package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/outrider-mesh/outrider/bench/report"
)

// pinnedEnv marks the process that pinSelf re-executed, so that a failing
// taskset cannot loop.
const pinnedEnv = "OUTRIDER_BENCH_PINNED"

// pinSelf re-executes the harness under taskset so that every thread of
// it (load generator and backend) runs on cpu alone. Setting the affinity
// from inside would miss the threads the Go runtime has already started.
func pinSelf(cpu int, args []string) error {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return fmt.Errorf("read CPU affinity: %w", err)
	}
	if set.Count() == 1 && set.IsSet(cpu) {
		return nil
	}
	if os.Getenv(pinnedEnv) != "" {
		return fmt.Errorf("taskset did not pin the harness to CPU %d", cpu)
	}
	if runtime.NumCPU() < 2 {
		return errors.New("pinning needs two CPUs (one for the proxy, one for load and backend); use --pin=false")
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("pinning needs taskset (util-linux): %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	argv := append([]string{"taskset", "-c", strconv.Itoa(cpu), exe}, args...)
	return syscall.Exec(taskset, argv, append(os.Environ(), pinnedEnv+"=1"))
}

// machine describes where the run happens.
func machine(name string, versions map[string]string) report.Machine {
	// Not runtime.NumCPU: after pinSelf it counts only this process's CPU.
	m := report.Machine{Name: name, Go: runtime.Version(), Versions: versions}
	if m.Name == "" {
		m.Name, _ = os.Hostname()
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			k, v, ok := strings.Cut(s.Text(), ":")
			switch k = strings.TrimSpace(k); {
			case !ok:
			case k == "processor":
				m.Cores++
			case k == "model name" && m.CPU == "":
				m.CPU = strings.TrimSpace(v)
			}
		}
	}
	return m
}

var versionPattern = regexp.MustCompile(`\d+\.\d+(\.\d+)?[^\s]*`)

// version runs a program's version flag and keeps the first version-like
// word (nginx prints it on stderr).
func version(bin string, args ...string) string {
	out, _ := exec.Command(bin, args...).CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if v := versionPattern.FindString(line); v != "" {
		return v
	}
	return strings.TrimSpace(line)
}
