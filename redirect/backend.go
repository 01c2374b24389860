package redirect

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Backend installs a Ruleset in the current network namespace. Its side
// effects stay behind this interface so that the choice between backends is
// tested purely, and each backend is tested once for real, in a namespace.
type Backend interface {
	// Name is what --backend calls it: "iptables" or "nftables".
	Name() string
	// Probe returns nil when the backend can work here for families f:
	// the kernel supports it, its tools exist, privileges suffice.
	Probe(ctx context.Context, f Family) error
	// Installed reports whether rules installed by this backend exist. An
	// error means the backend cannot look here, and so cannot have any.
	Installed(ctx context.Context) (bool, error)
	// Render returns the exact ruleset text the backend applies, for
	// --dry-run and logs.
	Render(rs Ruleset) string
	// Apply replaces whatever this backend installed before with rs, in
	// one transaction: running it twice is the same as running it once.
	Apply(ctx context.Context, rs Ruleset) error
	// Verify reads the installed rules back and returns an error naming
	// the first difference from rs.
	Verify(ctx context.Context, rs Ruleset) error
	// Remove deletes exactly what Apply installed, and nothing else. It is
	// a no-op when nothing is installed.
	Remove(ctx context.Context) error
}

// Auto lets Choose pick the backend.
const Auto = "auto"

// Choose picks the backend to install with. want is a backend name or Auto;
// backends are listed in order of preference.
//
// Backends never mix in one namespace: when rules of one backend are already
// installed, Auto keeps that backend, and naming another is an error (run
// --cleanup first). Otherwise Auto takes the first backend whose Probe passes.
func Choose(ctx context.Context, want string, f Family, backends ...Backend) (Backend, error) {
	installed := installedOf(ctx, backends)
	if len(installed) > 1 {
		return nil, fmt.Errorf("redirect: rules of several backends are installed (%s); run with --cleanup first", names(installed))
	}

	if want != Auto {
		b := find(backends, want)
		if b == nil {
			return nil, fmt.Errorf("redirect: unknown backend %q (want %s or auto)", want, names(backends))
		}
		if len(installed) == 1 && installed[0] != b {
			return nil, fmt.Errorf("redirect: %s rules are installed here; backends must not mix: run with --cleanup first, or use --backend %s",
				installed[0].Name(), installed[0].Name())
		}
		if err := b.Probe(ctx, f); err != nil {
			return nil, fmt.Errorf("redirect: %s cannot work here: %w", b.Name(), err)
		}
		return b, nil
	}

	if len(installed) == 1 {
		b := installed[0]
		if err := b.Probe(ctx, f); err != nil {
			return nil, fmt.Errorf("redirect: %s rules are installed but %s cannot work now: %w", b.Name(), b.Name(), err)
		}
		return b, nil
	}
	var errs []string
	for _, b := range backends {
		err := b.Probe(ctx, f)
		if err == nil {
			return b, nil
		}
		errs = append(errs, b.Name()+": "+err.Error())
	}
	return nil, fmt.Errorf("redirect: no backend can work here:\n  %s", strings.Join(errs, "\n  "))
}

// Install applies rs with b and reads it back.
func Install(ctx context.Context, b Backend, rs Ruleset) error {
	if err := b.Apply(ctx, rs); err != nil {
		return err
	}
	if err := b.Verify(ctx, rs); err != nil {
		return fmt.Errorf("redirect: %s: rules read back differ from the rules applied: %w", b.Name(), err)
	}
	return nil
}

// RemoveAll removes the rules of every backend that has some installed, and
// returns the names of those it removed.
func RemoveAll(ctx context.Context, backends ...Backend) ([]string, error) {
	var removed []string
	var errs []error
	for _, b := range installedOf(ctx, backends) {
		if err := b.Remove(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, b.Name())
	}
	return removed, errors.Join(errs...)
}

// installedOf returns the backends whose rules are installed. A backend that
// cannot even read its state here (no kernel support for it, its programs
// missing) cannot have installed anything, so its error is not one: on a
// kernel without iptables' legacy tables, nftables must still work.
func installedOf(ctx context.Context, backends []Backend) []Backend {
	var out []Backend
	for _, b := range backends {
		if ok, err := b.Installed(ctx); err == nil && ok {
			out = append(out, b)
		}
	}
	return out
}

func find(bs []Backend, name string) Backend {
	for _, b := range bs {
		if b.Name() == name {
			return b
		}
	}
	return nil
}

func names(bs []Backend) string {
	n := make([]string, len(bs))
	for i, b := range bs {
		n[i] = b.Name()
	}
	return strings.Join(n, ", ")
}
