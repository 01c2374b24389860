package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// pureEnv renders rules without looking at the machine; it fails the test if
// anything tries to change it.
func pureEnv(t *testing.T) env {
	e := defaultEnv()
	e.hasIPv6 = func() bool { return false }
	e.checkPrivs = func() error { t.Error("a dry run checked privileges"); return errors.New("no") }
	e.inboundSrcV6 = func(bool) error { t.Error("a dry run touched ::6"); return errors.New("no") }
	return e
}

func TestDryRunPrintsTheExactRulesetForEachFlagCombination(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{name: "default", args: nil},
		{name: "default-ipv6", args: []string{"--ipv6", "on"}},
		{name: "inbound-ports-list", args: []string{"--inbound-ports", "8080,9090,15021", "--exclude-inbound-ports", "9090"}},
		{name: "inbound-off", args: []string{"--inbound-ports", "", "--ipv6", "on"}},
		{name: "outbound-ports-only", args: []string{"--outbound-cidrs", "", "--outbound-ports", "80,443", "--exclude-outbound-ports", "443"}},
		{name: "outbound-cidrs", args: []string{"--ipv6", "on",
			"--outbound-cidrs", "10.0.0.0/8,192.0.2.7,fd00::/8", "--exclude-outbound-cidrs", "10.96.0.0/12,fd00:1::/61"}},
		{name: "exclusions", args: []string{"--exclude-outbound-ports", "22,5432", "--exclude-inbound-ports", "22,15021"}},
		{name: "custom-ports-and-ids", args: []string{"--proxy-uid", "2000", "--proxy-gid", "3000",
			"--outbound-port", "16001", "--inbound-port", "16006"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got bytes.Buffer
			for _, backend := range []string{"iptables", "nftables"} {
				args := append([]string{"--dry-run", "--backend", backend}, tc.args...)
				var stdout, stderr bytes.Buffer
				if code := runIn(context.Background(), pureEnv(t), args, &stdout, &stderr); code != exitOK {
					t.Fatalf("exit %d: %s", code, stderr.String())
				}
				got.WriteString("$ outrider-init " + quoteArgs(args) + "\n")
				got.Write(stdout.Bytes())
				got.WriteString("\n")
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("output differs from %s (go test -update rewrites it):\n%s", path, got.String())
			}
		})
	}
}

func TestTheNftablesDryRunIsValidNftInput(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("nft -c needs root")
	}
	matches, err := filepath.Glob("testdata/*.golden")
	if err != nil || len(matches) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, path := range matches {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, nft, _ := strings.Cut(string(b), "--backend nftables")
		start := strings.Index(nft, "table inet")
		cmd := exec.Command("nft", "-c", "-f", "-")
		cmd.Stdin = strings.NewReader(nft[start:])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: nft -c rejects the ruleset: %v\n%s", path, err, out)
		}
	}
}

func TestBadFlagsAreAllReportedWithUsageExit(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{name: "every bad value is named", args: []string{"--inbound-ports", "x", "--exclude-outbound-cidrs", "300.1.1.1/8", "--ipv6", "maybe", "--backend", "ipchains"},
			want: []string{`--inbound-ports: "x" is not a port`, `--exclude-outbound-cidrs: "300.1.1.1/8" is not an IPv4 or IPv6 CIDR`,
				`--ipv6: "maybe": want auto, on or off`, `--backend: "ipchains": want auto, nftables or iptables`}},
		{name: "ports out of range", args: []string{"--outbound-port", "0", "--inbound-port", "70000"},
			want: []string{"--outbound-port: 0 is not a port", "--inbound-port: 70000 is not a port"}},
		{name: "an IPv6 CIDR with IPv6 off", args: []string{"--ipv6", "off", "--exclude-outbound-cidrs", "fd00::/8"},
			want: []string{"fd00::/8 is IPv6 but IPv6 is off"}},
		{name: "equal capture ports", args: []string{"--inbound-port", "15001"}, want: []string{"outbound and inbound ports must differ"}},
		{name: "dry run and cleanup together", args: []string{"--dry-run", "--cleanup"}, want: []string{"--dry-run and --cleanup exclude each other"}},
		{name: "stray arguments", args: []string{"now"}, want: []string{"unexpected arguments: now"}},
		{name: "an unknown flag", args: []string{"--redirect-dns"}, want: []string{"flag provided but not defined: -redirect-dns", "--proxy-uid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runIn(context.Background(), pureEnv(t), tc.args, &stdout, &stderr); code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestWithoutNetAdminInstallSaysWhatIsMissing(t *testing.T) {
	e := pureEnv(t)
	e.checkPrivs = func() error { return errors.New("needs CAP_NET_ADMIN in the pod's network namespace") }
	var stdout, stderr bytes.Buffer
	if code := runIn(context.Background(), e, nil, &stdout, &stderr); code != exitFail {
		t.Fatalf("exit %d, want %d", code, exitFail)
	}
	if !strings.Contains(stderr.String(), "outrider-init: needs CAP_NET_ADMIN") {
		t.Fatalf("stderr: %s", stderr.String())
	}
}

func TestTheBinaryLinksNoKubernetesLibrary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not in PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "k8s.io/") || strings.HasPrefix(pkg, "sigs.k8s.io/") {
			t.Errorf("outrider-init depends on %s", pkg)
		}
	}
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if a == "" || strings.ContainsAny(a, " *") {
			q[i] = "'" + a + "'"
		}
	}
	return strings.Join(q, " ")
}
