package nftables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/outrider-mesh/outrider/redirect"
)

// Backend installs rules natively into "table inet outrider". The zero value
// is ready to use and works in the caller's network namespace.
type Backend struct {
	// Dial opens the netlink connection; nil uses nftables.New(), which
	// works in the network namespace of the calling thread.
	Dial func() (*nftables.Conn, error)
}

var _ redirect.Backend = (*Backend)(nil)

var table = &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}

// Name implements redirect.Backend.
func (*Backend) Name() string { return "nftables" }

// Render implements redirect.Backend.
func (*Backend) Render(rs redirect.Ruleset) string { return Describe(rs) }

// Probe checks that the kernel has what the rules use (inet tables, NAT
// chains, redirect) and that we may change them, with a transaction that
// adds a throwaway table holding a NAT chain and a redirect rule, and deletes
// it again: the kernel checks it all and nothing is left either way. Both
// families live in the one inet table.
func (b *Backend) Probe(context.Context, redirect.Family) error {
	c, err := b.dial()
	if err != nil {
		return err
	}
	probe := &nftables.Table{Name: TableName + "-probe", Family: nftables.TableFamilyINet}
	c.AddTable(probe)
	ch := c.AddChain(&nftables.Chain{Name: "output", Table: probe, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	c.AddRule(&nftables.Rule{Table: probe, Chain: ch, Exprs: Exprs(redirect.Rule{
		Verdict: redirect.Verdict{Kind: redirect.Redirect, Port: redirect.DefaultOutboundPort}})})
	c.DelTable(probe)
	if err := c.Flush(); err != nil {
		return explain(err)
	}
	return nil
}

// Installed reports whether our table exists.
func (b *Backend) Installed(context.Context) (bool, error) {
	c, err := b.dial()
	if err != nil {
		return false, err
	}
	return b.tableExists(c)
}

func (b *Backend) tableExists(c *nftables.Conn) (bool, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, explain(err)
	}
	return slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == TableName }), nil
}

// Apply replaces our table wholesale in one transaction: adding the table
// first makes the deletion valid whether or not it existed, and the kernel
// applies add, delete and the new content atomically.
func (b *Backend) Apply(_ context.Context, rs redirect.Ruleset) error {
	c, err := b.dial()
	if err != nil {
		return err
	}
	c.AddTable(table)
	c.DelTable(table)
	c.AddTable(table)
	chains := map[redirect.ChainID]*nftables.Chain{}
	for _, ch := range rs.Chains {
		chains[ch.ID] = c.AddChain(chainOf(ch.ID))
	}
	for _, ch := range rs.Chains {
		for _, r := range ch.Rules {
			c.AddRule(&nftables.Rule{Table: table, Chain: chains[ch.ID], Exprs: Exprs(r)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: installing table inet %s: %w", TableName, explain(err))
	}
	return nil
}

// Verify lists our table's chains and rules back from the kernel and compares
// them, expression by expression in netlink encoding, with rs.
func (b *Backend) Verify(_ context.Context, rs redirect.Ruleset) error {
	c, err := b.dial()
	if err != nil {
		return err
	}
	all, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return explain(err)
	}
	got := map[string]*nftables.Chain{}
	for _, ch := range all {
		if ch.Table.Name == TableName {
			got[ch.Name] = ch
		}
	}
	if len(got) != len(rs.Chains) {
		return fmt.Errorf("nftables: table inet %s has %d chains, want %d", TableName, len(got), len(rs.Chains))
	}
	for _, ch := range rs.Chains {
		name := ChainName(ch.ID)
		have, ok := got[name]
		if !ok {
			return fmt.Errorf("nftables: chain %s is missing", name)
		}
		if err := sameHook(have, chainOf(ch.ID)); err != nil {
			return fmt.Errorf("nftables: chain %s: %w", name, err)
		}
		rules, err := c.GetRules(table, have)
		if err != nil {
			return fmt.Errorf("nftables: listing chain %s: %w", name, explain(err))
		}
		if len(rules) != len(ch.Rules) {
			return fmt.Errorf("nftables: chain %s has %d rules, want %d", name, len(rules), len(ch.Rules))
		}
		for i, r := range ch.Rules {
			if !sameExprs(rules[i].Exprs, Exprs(r)) {
				return fmt.Errorf("nftables: chain %s rule %d differs from %q", name, i, RuleText(r))
			}
		}
	}
	return nil
}

// Remove deletes our table, and with it every chain and rule we installed.
// Adding it first makes the deletion valid when it does not exist: the
// transaction then changes nothing.
func (b *Backend) Remove(context.Context) error {
	c, err := b.dial()
	if err != nil {
		return err
	}
	c.AddTable(table)
	c.DelTable(table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: deleting table inet %s: %w", TableName, explain(err))
	}
	return nil
}

func (b *Backend) dial() (*nftables.Conn, error) {
	dial := b.Dial
	if dial == nil {
		dial = func() (*nftables.Conn, error) { return nftables.New() }
	}
	c, err := dial()
	if err != nil {
		return nil, fmt.Errorf("nftables: opening netlink: %w", explain(err))
	}
	return c, nil
}

// chainOf describes chain id as nftables creates it: hook chains are NAT base
// chains at priority -100 (dstnat), where iptables' nat chains sit too.
func chainOf(id redirect.ChainID) *nftables.Chain {
	ch := &nftables.Chain{Name: ChainName(id), Table: table}
	switch id {
	case redirect.Prerouting:
		ch.Type, ch.Hooknum, ch.Priority = nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest
	case redirect.Output:
		ch.Type, ch.Hooknum, ch.Priority = nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest
	}
	return ch
}

func sameHook(have, want *nftables.Chain) error {
	if (have.Hooknum == nil) != (want.Hooknum == nil) {
		return errors.New("base chain where a regular chain is wanted, or the reverse")
	}
	if want.Hooknum == nil {
		return nil
	}
	if *have.Hooknum != *want.Hooknum || have.Priority == nil || *have.Priority != *want.Priority || have.Type != want.Type {
		return fmt.Errorf("hook, priority or type differ (type %s)", have.Type)
	}
	if have.Policy != nil && *have.Policy != nftables.ChainPolicyAccept {
		return errors.New("policy is not accept")
	}
	return nil
}

// sameExprs compares expressions by their netlink encoding, which is what the
// kernel stored and returned.
func sameExprs(a, b []expr.Any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, errX := expr.Marshal(byte(nftables.TableFamilyINet), a[i])
		y, errY := expr.Marshal(byte(nftables.TableFamilyINet), b[i])
		if errX != nil || errY != nil || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// explain turns the kernel's terse errors into what the user must fix.
func explain(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (needs CAP_NET_ADMIN in this network namespace: run as root or add the NET_ADMIN capability)", err)
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("%w (the kernel has no nf_tables support)", err)
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w (the kernel lacks inet NAT chains or redirect: needs Linux 5.2+ with nft_chain_nat and nft_redir)", err)
	}
	return err
}
