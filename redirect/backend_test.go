package redirect

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// stubBackend only answers the questions Choose asks; it installs nothing.
type stubBackend struct {
	name      string
	installed bool
	probeErr  error
	// lookErr makes Installed fail, as when the kernel lacks the backend.
	lookErr error
}

func (b *stubBackend) Name() string                            { return b.name }
func (b *stubBackend) Probe(context.Context, Family) error     { return b.probeErr }
func (b *stubBackend) Installed(context.Context) (bool, error) { return b.installed, nil }
func (b *stubBackend) Render(Ruleset) string                   { return "" }
func (b *stubBackend) Apply(context.Context, Ruleset) error    { return nil }
func (b *stubBackend) Verify(context.Context, Ruleset) error   { return nil }
func (b *stubBackend) Remove(context.Context) error            { b.installed = false; return nil }
func (b *stubBackend) with(installed bool, probe error) *stubBackend {
	b.installed, b.probeErr = installed, probe
	return b
}

var errNoKernel = errors.New("no kernel support")

func TestChoosePicksOneBackendAndNeverMixes(t *testing.T) {
	for _, tc := range []struct {
		name          string
		want          string
		nft, ipt      func(*stubBackend) *stubBackend
		wantBackend   string
		wantErrSubstr string
	}{
		{name: "auto prefers nftables on a clean namespace", want: Auto, wantBackend: "nftables"},
		{
			name: "auto falls back to iptables when nftables cannot work",
			want: Auto, nft: func(b *stubBackend) *stubBackend { return b.with(false, errNoKernel) },
			wantBackend: "iptables",
		},
		{
			name: "auto keeps iptables when its rules are installed",
			want: Auto, ipt: func(b *stubBackend) *stubBackend { return b.with(true, nil) },
			wantBackend: "iptables",
		},
		{
			name: "auto keeps nftables when its table is installed",
			want: Auto, nft: func(b *stubBackend) *stubBackend { return b.with(true, nil) },
			wantBackend: "nftables",
		},
		{
			name:          "rules of both backends are an error",
			want:          Auto,
			nft:           func(b *stubBackend) *stubBackend { return b.with(true, nil) },
			ipt:           func(b *stubBackend) *stubBackend { return b.with(true, nil) },
			wantErrSubstr: "several backends are installed (nftables, iptables); run with --cleanup first",
		},
		{
			name: "naming a backend other than the installed one is an error",
			want: "nftables", ipt: func(b *stubBackend) *stubBackend { return b.with(true, nil) },
			wantErrSubstr: "iptables rules are installed here; backends must not mix",
		},
		{
			name: "naming a backend that cannot work says why",
			want: "nftables", nft: func(b *stubBackend) *stubBackend { return b.with(false, errNoKernel) },
			wantErrSubstr: "nftables cannot work here: no kernel support",
		},
		{
			name:          "auto with no working backend lists every reason",
			want:          Auto,
			nft:           func(b *stubBackend) *stubBackend { return b.with(false, errNoKernel) },
			ipt:           func(b *stubBackend) *stubBackend { return b.with(false, errors.New("iptables-restore not found")) },
			wantErrSubstr: "no backend can work here:\n  nftables: no kernel support\n  iptables: iptables-restore not found",
		},
		{name: "an unknown backend is an error", want: "ipchains", wantErrSubstr: `unknown backend "ipchains"`},
		{name: "naming iptables on a clean namespace works", want: "iptables", wantBackend: "iptables"},
		{
			name: "a backend that cannot even look does not stop the other",
			want: Auto, ipt: func(b *stubBackend) *stubBackend { b.lookErr = errNoKernel; return b.with(false, errNoKernel) },
			wantBackend: "nftables",
		},
		{
			name: "naming the backend that works while the other cannot look",
			want: "iptables", nft: func(b *stubBackend) *stubBackend { b.lookErr = errNoKernel; return b.with(false, errNoKernel) },
			wantBackend: "iptables",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nft, ipt := &stubBackend{name: "nftables"}, &stubBackend{name: "iptables"}
			if tc.nft != nil {
				tc.nft(nft)
			}
			if tc.ipt != nil {
				tc.ipt(ipt)
			}
			b, err := Choose(context.Background(), tc.want, IPv4, nft, ipt)
			if tc.wantErrSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSubstr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErrSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Name() != tc.wantBackend {
				t.Fatalf("chose %s, want %s", b.Name(), tc.wantBackend)
			}
		})
	}
}

func TestRemoveAllRemovesOnlyInstalledBackends(t *testing.T) {
	nft, ipt := &stubBackend{name: "nftables"}, &stubBackend{name: "iptables", installed: true}
	removed, err := RemoveAll(context.Background(), nft, ipt)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, ",") != "iptables" || ipt.installed {
		t.Fatalf("removed %v; iptables still installed: %v", removed, ipt.installed)
	}
}
