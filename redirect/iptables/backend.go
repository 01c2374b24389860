package iptables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/outrider-mesh/outrider/redirect"
)

// Runner runs a program with stdin and returns its standard output; the
// error carries its standard error. It is the only way this package touches
// the system.
type Runner interface {
	Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)
}

// Backend installs rules with iptables-restore. The zero value is ready to
// use and runs the iptables programs found in PATH.
type Backend struct {
	// Runner runs the iptables programs; nil runs them with os/exec.
	Runner Runner
	// PruneTable deletes what iptables' nf_tables variant created for our
	// rules and left empty after Remove (built-in chains, the nat table of
	// family f), so that --cleanup leaves the namespace as it found it. It
	// is only called for that variant. Nil uses PruneNATTable.
	PruneTable func(f redirect.Family) error
}

var _ redirect.Backend = (*Backend)(nil)

// Name implements redirect.Backend.
func (*Backend) Name() string { return "iptables" }

// Render implements redirect.Backend.
func (*Backend) Render(rs redirect.Ruleset) string { return Render(rs) }

// Probe checks that the save and restore programs exist for each family and
// that iptables-save can read the nat table (kernel support, privileges).
func (b *Backend) Probe(ctx context.Context, f redirect.Family) error {
	for _, fam := range families(f) {
		for _, verb := range []string{"save", "restore"} {
			if _, err := exec.LookPath(tool(fam, verb)); err != nil {
				return fmt.Errorf("%s not found (install the iptables package)", tool(fam, verb))
			}
		}
		if _, err := b.run(ctx, nil, tool(fam, "save"), "-t", "nat"); err != nil {
			return err
		}
	}
	return nil
}

// Installed reports whether any OUTRIDER_ chain exists, in either family.
// A family whose programs are missing cannot hold our rules.
func (b *Backend) Installed(ctx context.Context) (bool, error) {
	for _, fam := range families(redirect.IPv4 | redirect.IPv6) {
		if _, err := exec.LookPath(tool(fam, "save")); err != nil {
			continue
		}
		st, err := b.save(ctx, fam)
		if err != nil {
			return false, err
		}
		if !st.empty() {
			return true, nil
		}
	}
	return false, nil
}

// Apply replaces our chains and jumps in one iptables-restore run per family;
// a family rs does not cover is cleared of our rules.
func (b *Backend) Apply(ctx context.Context, rs redirect.Ruleset) error {
	for _, fam := range families(redirect.IPv4 | redirect.IPv6) {
		if !rs.Families.Has(fam) {
			if err := b.removeFamily(ctx, fam); err != nil {
				return err
			}
			continue
		}
		cur, err := b.save(ctx, fam)
		if err != nil {
			return err
		}
		in := replaceInput(cur, ownChains(rs), ruleLines(rs, fam))
		if err := b.restore(ctx, fam, in); err != nil {
			return err
		}
	}
	return nil
}

// Verify compares what iptables-save shows with rs, chain by chain.
func (b *Backend) Verify(ctx context.Context, rs redirect.Ruleset) error {
	for _, fam := range families(redirect.IPv4 | redirect.IPv6) {
		if !rs.Families.Has(fam) {
			if _, err := exec.LookPath(tool(fam, "save")); err != nil {
				continue
			}
		}
		st, err := b.save(ctx, fam)
		if err != nil {
			return err
		}
		want := natState{rules: map[string][]string{}}
		if rs.Families.Has(fam) {
			want.chains = ownChains(rs)
			for _, line := range ruleLines(rs, fam) {
				chain := strings.Fields(line)[1]
				if strings.HasPrefix(chain, ChainPrefix) {
					want.rules[chain] = append(want.rules[chain], line)
				} else {
					want.jumps = append(want.jumps, line)
				}
			}
		}
		if err := diffState(tool(fam, "save"), st, want); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes our jumps and chains in both families, then the nat table
// if nothing else is left in it.
func (b *Backend) Remove(ctx context.Context) error {
	var errs []error
	for _, fam := range families(redirect.IPv4 | redirect.IPv6) {
		if _, err := exec.LookPath(tool(fam, "save")); err != nil {
			continue
		}
		errs = append(errs, b.removeFamily(ctx, fam))
	}
	return errors.Join(errs...)
}

func (b *Backend) removeFamily(ctx context.Context, fam redirect.Family) error {
	if _, err := exec.LookPath(tool(fam, "save")); err != nil {
		return nil
	}
	cur, err := b.save(ctx, fam)
	if err != nil {
		return err
	}
	if cur.empty() {
		return nil
	}
	if err := b.restore(ctx, fam, replaceInput(cur, nil, nil)); err != nil {
		return err
	}
	if !b.nfTables(ctx, fam) {
		return nil
	}
	prune := b.PruneTable
	if prune == nil {
		prune = PruneNATTable
	}
	if err := prune(fam); err != nil {
		return fmt.Errorf("iptables: pruning the nat table: %w", err)
	}
	return nil
}

// nfTables reports whether the iptables programs are the nf_tables variant,
// whose tables live in nftables and outlast their last chain.
func (b *Backend) nfTables(ctx context.Context, fam redirect.Family) bool {
	out, err := b.run(ctx, nil, tool(fam, "save"), "--version")
	return err == nil && bytes.Contains(out, []byte("nf_tables"))
}

func (b *Backend) save(ctx context.Context, fam redirect.Family) (natState, error) {
	out, err := b.run(ctx, nil, tool(fam, "save"), "-t", "nat")
	if err != nil {
		return natState{}, err
	}
	return parseSave(string(out)), nil
}

func (b *Backend) restore(ctx context.Context, fam redirect.Family, input string) error {
	// -w waits for the xtables lock that the legacy variant shares between
	// all namespaces; the nf_tables variant ignores it.
	_, err := b.run(ctx, []byte(input), tool(fam, "restore"), "-w", "5", "--noflush")
	if err != nil {
		return fmt.Errorf("%w\ninput was:\n%s", err, input)
	}
	return nil
}

func (b *Backend) run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	r := b.Runner
	if r == nil {
		r = ExecRunner{}
	}
	out, err := r.Run(ctx, stdin, name, args...)
	if err != nil {
		return nil, fmt.Errorf("iptables: %w", err)
	}
	return out, nil
}

// diffState names the first difference between what is installed and what
// should be.
func diffState(what string, got, want natState) error {
	if !sameSet(got.chains, want.chains) {
		return fmt.Errorf("%s: chains %q, want %q", what, got.chains, want.chains)
	}
	if !slices.Equal(got.jumps, want.jumps) {
		return fmt.Errorf("%s: jumps from built-in chains:\n%s\nwant:\n%s", what, lines(got.jumps), lines(want.jumps))
	}
	for _, c := range want.chains {
		if !slices.Equal(got.rules[c], want.rules[c]) {
			return fmt.Errorf("%s: chain %s:\n%s\nwant:\n%s", what, c, lines(got.rules[c]), lines(want.rules[c]))
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func lines(ls []string) string {
	if len(ls) == 0 {
		return "  (none)"
	}
	return "  " + strings.Join(ls, "\n  ")
}

func families(f redirect.Family) []redirect.Family {
	var out []redirect.Family
	for _, fam := range []redirect.Family{redirect.IPv4, redirect.IPv6} {
		if f.Has(fam) {
			out = append(out, fam)
		}
	}
	return out
}

// ExecRunner runs programs with os/exec.
type ExecRunner struct{}

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}
