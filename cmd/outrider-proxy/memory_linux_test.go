//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

const smapsExcerpt = `00400000-00c00000 r-xp 00000000 fd:01 123 /usr/bin/outrider-proxy
Size:               8192 kB
Rss:                6000 kB
Anonymous:             0 kB
00c00000-01000000 r--p 00800000 fd:01 123 /usr/bin/outrider-proxy
Size:               4096 kB
Anonymous:             0 kB
01000000-01100000 rw-p 00c00000 fd:01 123 /usr/bin/outrider-proxy
Anonymous:           512 kB
01100000-01200000 r--p 00d00000 fd:01 123 /usr/bin/outrider-proxy
Anonymous:             8 kB
01200000-01300000 rw-p 00000000 00:00 0
Anonymous:          1024 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7f0000200000-7f0000300000 r--p 00000000 fd:01 789 /usr/bin/outrider-proxy (deleted)
Anonymous:             0 kB
`

func TestOnlyTheExecutablesUnwrittenReadOnlyMappingsAreDropped(t *testing.T) {
	got := readOnlyMappings([]byte(smapsExcerpt), "/usr/bin/outrider-proxy")
	want := []mapping{{start: 0x400000, end: 0xc00000}, {start: 0xc00000, end: 0x1000000}}
	if len(got) != len(want) {
		t.Fatalf("mappings %x; want %x (code and read-only data, not the writable data, the relocated read-only page, the heap, libc or another file)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d = %x; want %x", i, got[i], want[i])
		}
	}
}

func TestDroppingStartupPagesShrinksTheResidentFilePagesAndTheCodeStillRuns(t *testing.T) {
	// The test binary, like the proxy, has touched much of its code by now.
	before := rssFileKB(t)
	dropStartupPages()
	after := rssFileKB(t)
	if after >= before {
		t.Errorf("RssFile %d kB before, %d kB after: nothing was dropped", before, after)
	}
	// Code, read-only data and the function tables fault back in.
	if got := strings.Repeat("ab", 3); got != "ababab" {
		t.Errorf("code after the drop computed %q", got)
	}
	if _, err := os.ReadFile("/proc/self/status"); err != nil {
		t.Error(err)
	}
}

// rssFileKB is this process's resident file-backed memory in kB.
func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
