package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/outrider-mesh/outrider/redirect"
)

// install replaces whatever outrider-init installed before with the rules of
// cfg, reads them back, and prints them.
func install(ctx context.Context, e env, cfg redirect.Config, backend string, stdout io.Writer) error {
	rs, err := redirect.Build(cfg)
	if err != nil {
		return err
	}
	if err := e.checkPrivs(); err != nil {
		return err
	}
	b, err := redirect.Choose(ctx, backend, rs.Families, e.backends...)
	if err != nil {
		return err
	}
	// ::6 first, so that the proxy can bind it as soon as the rules exist;
	// with IPv6 off, a ::6 left by an earlier run with IPv6 on goes.
	if err := e.inboundSrcV6(cfg.IPv6); err != nil {
		return err
	}
	if err := redirect.Install(ctx, b, rs); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "outrider-init: installed and verified %d rules with %s (%s)%s\n",
		rs.Len(), b.Name(), rs.Families, v6Note(cfg.IPv6, "; ::6/128 is on lo"))
	fmt.Fprint(stdout, b.Render(rs))
	return nil
}

// cleanup removes the rules of the named backend, or of every backend that
// has some with auto, and ::6 from lo.
func cleanup(ctx context.Context, e env, backend string, stdout io.Writer) error {
	if err := e.checkPrivs(); err != nil {
		return err
	}
	backends := e.backends
	if backend != redirect.Auto {
		backends = nil
		for _, b := range e.backends {
			if b.Name() == backend {
				backends = append(backends, b)
			}
		}
	}
	removed, err := redirect.RemoveAll(ctx, backends...)
	if err != nil {
		return err
	}
	if err := e.inboundSrcV6(false); err != nil {
		return err
	}
	if len(removed) == 0 {
		fmt.Fprintln(stdout, "outrider-init: no rules of outrider-init were installed; ::6 is off lo")
		return nil
	}
	fmt.Fprintf(stdout, "outrider-init: removed the %s rules and ::6 from lo\n", strings.Join(removed, " and "))
	return nil
}

// dryRun prints what install would do. A named backend is rendered without
// touching the system; auto has to look at the namespace to choose, and
// shows nftables when it cannot (without privileges, say).
func dryRun(ctx context.Context, e env, cfg redirect.Config, backend string, stdout, stderr io.Writer) error {
	rs, err := redirect.Build(cfg)
	if err != nil {
		return err
	}
	var b redirect.Backend
	if backend == redirect.Auto {
		b, err = redirect.Choose(ctx, backend, rs.Families, e.backends...)
		if err != nil {
			fmt.Fprintf(stderr, "outrider-init: cannot choose a backend here (%v); showing nftables\n", err)
		}
	}
	if b == nil {
		for _, c := range e.backends {
			if c.Name() == backend || (backend == redirect.Auto && c.Name() == "nftables") {
				b = c
			}
		}
	}
	fmt.Fprintf(stdout, "# outrider-init --dry-run: %d rules with %s (%s)%s\n",
		rs.Len(), b.Name(), rs.Families, v6Note(cfg.IPv6, "; would add ::6/128 to lo"))
	fmt.Fprint(stdout, b.Render(rs))
	return nil
}

func v6Note(on bool, note string) string {
	if on {
		return note
	}
	return ""
}
