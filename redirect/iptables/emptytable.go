package iptables

import (
	"fmt"
	"slices"

	"github.com/google/nftables"

	"github.com/outrider-mesh/outrider/redirect"
)

var builtinNATChains = []string{"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}

// PruneNATTable tidies the nftables table "nat" of family f, the one
// iptables-nft keeps its nat rules in: it deletes the built-in chains that
// hold no rule and accept everything, then the table if no chain is left.
//
// iptables-nft creates those chains and the table the first time a rule
// needs them and never deletes them; Remove calls this so that --cleanup
// leaves nftables as it found it. iptables-save shows built-in chains whether
// they exist or not, and an empty accepting chain does nothing to packets, so
// nothing anyone relies on changes, even if the chain existed before us.
func PruneNATTable(f redirect.Family) error {
	fam := nftables.TableFamilyIPv4
	if f == redirect.IPv6 {
		fam = nftables.TableFamilyIPv6
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	tables, err := c.ListTablesOfFamily(fam)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(tables, func(t *nftables.Table) bool { return t.Name == "nat" })
	if i < 0 {
		return nil
	}
	table := tables[i]
	all, err := c.ListChainsOfTableFamily(fam)
	if err != nil {
		return err
	}
	kept := 0
	for _, ch := range all {
		if ch.Table.Name != table.Name {
			continue
		}
		empty, err := emptyBuiltin(c, table, ch)
		if err != nil {
			return err
		}
		if !empty {
			kept++
			continue
		}
		c.DelChain(ch)
	}
	if kept == 0 {
		sets, err := c.GetSets(table)
		if err != nil {
			return err
		}
		if len(sets) == 0 {
			c.DelTable(table)
		}
	}
	return c.Flush()
}

func emptyBuiltin(c *nftables.Conn, table *nftables.Table, ch *nftables.Chain) (bool, error) {
	if ch.Hooknum == nil || !slices.Contains(builtinNATChains, ch.Name) ||
		(ch.Policy != nil && *ch.Policy != nftables.ChainPolicyAccept) {
		return false, nil
	}
	rules, err := c.GetRules(table, ch)
	if err != nil {
		return false, fmt.Errorf("listing rules of %s: %w", ch.Name, err)
	}
	return len(rules) == 0, nil
}
