package redirect

import (
	"strings"
	"testing"
)

// Flag values come from pod annotations, which users write: parsing must
// never panic, and what it accepts must read back the same.
func FuzzParsePortSet(f *testing.F) {
	for _, s := range []string{"*", "", "80,443", " 1 , 65535 ", "0", "65536", "-1", "8080,,9090", "80-90"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePortSet(s)
		if err != nil {
			return
		}
		again, err := ParsePortSet(ps.String())
		if err != nil || again.String() != ps.String() {
			t.Fatalf("%q parsed as %q, which reads back as %q (%v)", s, ps.String(), again.String(), err)
		}
	})
}

func FuzzParseCIDRSet(f *testing.F) {
	for _, s := range []string{"*", "", "10.0.0.0/8,fd00::/8", "192.0.2.1", "::1", "1.2.3.4/33", "fe80::1%eth0/64", "::ffff:1.2.3.4/128"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseCIDRSet(s)
		if err != nil || cs.All {
			return
		}
		parts := make([]string, len(cs.Prefixes))
		for i, p := range cs.Prefixes {
			if p != p.Masked() {
				t.Fatalf("%q gave the unmasked prefix %s", s, p)
			}
			parts[i] = p.String()
		}
		again, err := ParseCIDRs(strings.Join(parts, ","))
		if err != nil || len(again) != len(cs.Prefixes) {
			t.Fatalf("%q parsed as %v, which reads back as %v (%v)", s, cs.Prefixes, again, err)
		}
	})
}
