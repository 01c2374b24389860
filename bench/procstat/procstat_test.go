package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParseStatReadsUserAndSystemTimeAfterAnAwkwardName(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want time.Duration
	}{
		{
			name: "a plain name",
			line: "123 (outrider-proxy) S 1 123 123 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 3 0 100 0 0",
			want: 3 * time.Second,
		},
		{
			name: "a name with spaces and parentheses",
			line: "123 (a (b) c) R 1 123 123 0 -1 4194560 1000 0 0 0 7 3 0 0 20 0 3 0 100 0 0",
			want: 100 * time.Millisecond,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseStatRejectsTruncatedLines(t *testing.T) {
	if _, err := parseStat([]byte("123 (x) S 1 2 3")); err == nil {
		t.Error("a truncated line parsed")
	}
	if _, err := parseStat([]byte("garbage")); err == nil {
		t.Error("a line without the name parsed")
	}
}

func TestParseStatusReadsRSSAndPeakInBytes(t *testing.T) {
	status := "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nRssAnon:\t    4096 kB\nRssFile:\t    6144 kB\nThreads:\t3\n"
	got, err := parseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Memory{RSS: 10 << 20, Peak: 20 << 20, Anon: 4 << 20, File: 6 << 20}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Error("a status without memory lines parsed")
	}
}

func TestTheRunningProcessHasCPUTimeAndAResettablePeak(t *testing.T) {
	pid := os.Getpid()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cpu, err := CPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		if cpu > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no CPU time after 5 s of spinning")
		}
		for i := 0; i < 1e6; i++ {
			_ = time.Now()
		}
	}
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	before, err := ReadMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	ballast = nil
	if err := ResetPeak(pid); err != nil {
		t.Skipf("cannot reset the peak here: %v", err)
	}
	after, err := ReadMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	if before.Peak < 64<<20 {
		t.Errorf("peak %d before the reset is below the 64 MiB ballast", before.Peak)
	}
	if after.Peak > after.RSS+(1<<20) && after.Peak >= before.Peak {
		t.Errorf("peak %d after the reset did not drop toward RSS %d", after.Peak, after.RSS)
	}
}
