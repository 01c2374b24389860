// Package procstat reads a process's CPU time and memory from /proc: the
// figures the harness charges to a proxy. It reads the whole process
// (every thread, including exited ones), as a user's `top` would.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, fixed at 100 on Linux for every architecture the
// kernel exposes to user space through /proc/<pid>/stat.
const clockTick = 10 * time.Millisecond

// CPU returns the CPU time (user + system) the process has used so far.
// Its resolution is one clock tick (10 ms): measure over seconds.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	return parseStat(b)
}

// parseStat reads utime and stime (fields 14 and 15) from a stat line. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("procstat: malformed stat line %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("procstat: stat line has %d fields after the name, want at least 13", len(f))
	}
	utime, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procstat: utime: %w", err)
	}
	stime, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procstat: stime: %w", err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// Memory is a process's resident memory, in bytes.
type Memory struct {
	// RSS is the resident set now (VmRSS).
	RSS uint64
	// Peak is the highest RSS since start or since the last ResetPeak (VmHWM).
	Peak uint64
	// Anon is the private part of RSS (RssAnon): heap, stacks.
	Anon uint64
	// File is the file-backed part of RSS (RssFile): mostly the pages of
	// the executable that were touched, which every process running the
	// same binary on a node shares through the page cache.
	File uint64
}

// ReadMemory returns the process's resident memory.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("procstat: %w", err)
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Memory, error) {
	var m Memory
	fields := map[string]*uint64{"VmRSS": &m.RSS, "VmHWM": &m.Peak, "RssAnon": &m.Anon, "RssFile": &m.File}
	var seen int
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		dst := fields[key]
		if !ok || dst == nil {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return Memory{}, fmt.Errorf("procstat: %s is %q, want a size in kB", key, strings.TrimSpace(val))
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("procstat: %s: %w", key, err)
		}
		*dst = kb * 1024
		if key == "VmRSS" || key == "VmHWM" {
			seen++
		}
	}
	if seen != 2 {
		return Memory{}, fmt.Errorf("procstat: status lacks VmRSS or VmHWM")
	}
	return m, nil
}

// ResetPeak makes the process's peak RSS (VmHWM) start again from its
// current RSS, so that a phase's peak is measured alone. It needs the right
// to write /proc/<pid>/clear_refs (the same user, or root).
func ResetPeak(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("procstat: reset peak RSS: %w", err)
	}
	return nil
}
