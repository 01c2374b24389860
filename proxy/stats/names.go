package stats

import "strings"

// exposition is a stat's Prometheus identity, computed once at creation so
// that a scrape only copies bytes.
type exposition struct {
	family string // "envoy_cluster_upstream_rq_total"
	labels string // `envoy_cluster_name="backend"`, escaped, without braces
}

func newExposition(m Meta) exposition {
	return exposition{family: m.FullPromName(), labels: string(appendLabels(nil, m.Tags))}
}

// FullPromName returns the full Prometheus metric name of m: "envoy_" and
// the prom name with every character Prometheus does not allow in a name
// turned into an underscore, as Envoy's exposition does.
func (m Meta) FullPromName() string {
	return "envoy_" + promSanitize(m.PromName)
}

func promSanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = promChar(c)
	}
	return string(b)
}

// promChar is c if Prometheus allows it in a name, else '_'.
func promChar(c byte) byte {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
		return c
	}
	return '_'
}

// appendLabels appends tags as Prometheus labels without braces,
// `envoy_cluster_name="backend"`: names sanitized, values escaped as the
// text format requires (backslash, double quote, newline).
func appendLabels(b []byte, tags []Tag) []byte {
	for i, t := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPromChars(b, t.Name)
		b = append(b, `="`...)
		b = appendEscaped(b, t.Value)
		b = append(b, '"')
	}
	return b
}

// appendPromChars appends s with every character Prometheus does not
// allow in a name turned into '_'.
func appendPromChars(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if promChar(s[i]) != s[i] {
			for j := 0; j < len(s); j++ {
				b = append(b, promChar(s[j]))
			}
			return b
		}
	}
	return append(b, s...)
}

// appendEscaped appends a label value escaped as the text format requires:
// backslash, double quote and newline.
func appendEscaped(b []byte, s string) []byte {
	for {
		i := strings.IndexAny(s, "\\\"\n")
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i]...)
		switch s[i] {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		default:
			b = append(b, `\n`...)
		}
		s = s[i+1:]
	}
}
