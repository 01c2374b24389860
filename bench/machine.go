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

// placedEnv marks the process that placeSelf re-executed, so that a
// failing taskset or nice cannot loop.
const placedEnv = "OUTRIDER_BENCH_PLACED"

// placeSelf re-executes the harness under taskset (and nice) so that every
// thread of it, load generator and backend, runs on the load CPU alone
// (at the asked niceness). Setting either from inside would miss the
// threads the Go runtime has already started.
func placeSelf(o *options, args []string) error {
	pinned := true
	if o.pin {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return fmt.Errorf("read CPU affinity: %w", err)
		}
		pinned = set.Count() == 1 && set.IsSet(o.loadCPU)
	}
	niced := true
	if o.nice != 0 {
		// getpriority(2) returns 20 - nice.
		prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
		if err != nil {
			return fmt.Errorf("read niceness: %w", err)
		}
		niced = 20-prio == o.nice
	}
	if pinned && niced {
		return nil
	}
	if os.Getenv(placedEnv) != "" {
		return fmt.Errorf("taskset or nice did not place the harness on CPU %d at niceness %d", o.loadCPU, o.nice)
	}
	if o.pin && runtime.NumCPU() < 2 {
		return errors.New("pinning needs two CPUs (one for the proxy, one for load and backend); use --pin=false")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	argv := append([]string{exe}, args...)
	if o.pin {
		argv = append([]string{"taskset", "-c", strconv.Itoa(o.loadCPU)}, argv...)
	}
	if o.nice != 0 {
		argv = append([]string{"nice", "-n", strconv.Itoa(o.nice)}, argv...)
	}
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("placing the harness needs %s: %w", argv[0], err)
	}
	return syscall.Exec(bin, argv, append(os.Environ(), placedEnv+"=1"))
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
