package iptables

import (
	"slices"
	"strings"
)

// natState is what iptables-save shows of the nat table that belongs to us.
type natState struct {
	// chains are our chains, in the order iptables-save lists them.
	chains []string
	// jumps are the rules of built-in chains that target one of ours, as
	// iptables-save prints them ("-A OUTPUT -p tcp -j OUTRIDER_OUTPUT").
	jumps []string
	// rules are the rule lines of each of our chains.
	rules map[string][]string
}

func (s natState) empty() bool { return len(s.chains) == 0 && len(s.jumps) == 0 }

// parseSave reads the nat table out of iptables-save's output.
func parseSave(out string) natState {
	s := natState{rules: map[string][]string{}}
	inNat := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			inNat = line == "*nat"
		case !inNat:
		case line == "COMMIT":
			inNat = false
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			if strings.HasPrefix(name, ChainPrefix) {
				s.chains = append(s.chains, name)
			}
		case strings.HasPrefix(line, "-A "):
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			if strings.HasPrefix(f[1], ChainPrefix) {
				s.rules[f[1]] = append(s.rules[f[1]], line)
			} else if targetsOurs(f) {
				s.jumps = append(s.jumps, line)
			}
		}
	}
	return s
}

// targetsOurs reports whether a rule's target (-j or -g) is one of our chains.
func targetsOurs(fields []string) bool {
	for i := 0; i+1 < len(fields); i++ {
		if (fields[i] == "-j" || fields[i] == "-g") && strings.HasPrefix(fields[i+1], ChainPrefix) {
			return true
		}
	}
	return false
}

// replaceInput is the iptables-restore --noflush input that turns the state
// cur into exactly want (nil want: remove everything of ours). It deletes
// old jumps, flushes our chains by declaring them, deletes chains we no
// longer use, and appends the new rules, all in one COMMIT.
func replaceInput(cur natState, wantChains, wantLines []string) string {
	var b strings.Builder
	b.WriteString("*nat\n")
	for _, name := range wantChains {
		b.WriteString(":" + name + " - [0:0]\n")
	}
	for _, j := range cur.jumps {
		b.WriteString("-D" + strings.TrimPrefix(j, "-A") + "\n")
	}
	var stale []string
	for _, name := range cur.chains {
		if !slices.Contains(wantChains, name) {
			stale = append(stale, name)
		}
	}
	// Flush every stale chain before deleting any: they may refer to each other.
	for _, name := range stale {
		b.WriteString("-F " + name + "\n")
	}
	for _, name := range stale {
		b.WriteString("-X " + name + "\n")
	}
	for _, line := range wantLines {
		b.WriteString(line + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}
