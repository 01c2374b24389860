package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxAliasedNodes bounds the nodes that aliases expand to, so that a small
// file of nested aliases ("billion laughs") cannot exhaust memory. Nodes
// written out in the file are bounded by its size.
const maxAliasedNodes = 1 << 20

// parseYAML converts a YAML document into a jsonValue, keeping the order of
// keys and the line of each value, with YAML 1.2 scalars (as Envoy reads
// them: "yes" is a string) and merge keys.
func parseYAML(data []byte) (*jsonValue, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &jsonValue{kind: jsonNull}, nil
		}
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	default:
		return nil, fmt.Errorf("invalid YAML: line %d: a second document; a configuration is one document", next.Line)
	}
	c := yamlConverter{budget: maxAliasedNodes}
	return c.convert(&doc, 0)
}

type yamlConverter struct {
	budget  int // nodes aliases may still expand to
	aliased int // > 0 while expanding an alias
}

func (c *yamlConverter) convert(n *yaml.Node, depth int) (*jsonValue, error) {
	if c.aliased > 0 {
		if c.budget--; c.budget < 0 {
			return nil, errors.New("invalid YAML: the document is too large once its aliases are expanded")
		}
	}
	if depth > 1000 {
		return nil, fmt.Errorf("invalid YAML: line %d: nested too deeply", n.Line)
	}
	line := int32(n.Line)
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &jsonValue{kind: jsonNull}, nil
		}
		return c.convert(n.Content[0], depth+1)
	case yaml.AliasNode:
		c.aliased++
		defer func() { c.aliased-- }()
		return c.convert(n.Alias, depth+1)
	case yaml.SequenceNode:
		v := &jsonValue{kind: jsonArray, line: line, vals: make([]*jsonValue, 0, len(n.Content))}
		for _, e := range n.Content {
			ev, err := c.convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			v.vals = append(v.vals, ev)
		}
		return v, nil
	case yaml.MappingNode:
		v := &jsonValue{kind: jsonObject, line: line}
		return v, c.mapping(v, n, depth)
	}
	return scalar(n), nil
}

// mapping adds the pairs of mapping n to v. Keys of merged mappings ("<<")
// come after, and never override, the mapping's own keys.
func (c *yamlConverter) mapping(v *jsonValue, n *yaml.Node, depth int) error {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("invalid YAML: line %d: a key must be a scalar", k.Line)
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, val)
			continue
		}
		ev, err := c.convert(val, depth+1)
		if err != nil {
			return err
		}
		ev.line = int32(k.Line) // a problem with a field is reported at its key
		v.keys, v.vals = append(v.keys, k.Value), append(v.vals, ev)
	}
	for _, m := range merges {
		if m.Kind == yaml.AliasNode {
			m = m.Alias
		}
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, s := range sources {
			if s.Kind == yaml.AliasNode {
				s = s.Alias
			}
			if s.Kind != yaml.MappingNode {
				return fmt.Errorf("invalid YAML: line %d: only mappings can be merged", s.Line)
			}
			merged := &jsonValue{kind: jsonObject}
			c.aliased++
			err := c.mapping(merged, s, depth+1)
			c.aliased--
			if err != nil {
				return err
			}
			for i, k := range merged.keys {
				if v.get(k) == nil {
					v.keys, v.vals = append(v.keys, k), append(v.vals, merged.vals[i])
				}
			}
		}
	}
	return nil
}

// scalar converts a scalar by its resolved tag.
func scalar(n *yaml.Node) *jsonValue {
	line := int32(n.Line)
	switch n.ShortTag() {
	case "!!null":
		return &jsonValue{kind: jsonNull, line: line}
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return &jsonValue{kind: jsonBool, b: b, line: line}
		}
	case "!!int":
		var i int64
		if n.Decode(&i) == nil {
			return &jsonValue{kind: jsonNumber, text: strconv.FormatInt(i, 10), line: line}
		}
		var u uint64
		if n.Decode(&u) == nil {
			return &jsonValue{kind: jsonNumber, text: strconv.FormatUint(u, 10), line: line}
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil {
			switch {
			case math.IsNaN(f):
				return &jsonValue{kind: jsonString, text: "NaN", line: line}
			case math.IsInf(f, 1):
				return &jsonValue{kind: jsonString, text: "Infinity", line: line}
			case math.IsInf(f, -1):
				return &jsonValue{kind: jsonString, text: "-Infinity", line: line}
			}
			return &jsonValue{kind: jsonNumber, text: strconv.FormatFloat(f, 'g', -1, 64), line: line}
		}
	}
	return &jsonValue{kind: jsonString, text: n.Value, line: line}
}

// lineOf finds the line of the value at path p in doc, or of its nearest
// ancestor present there. Field names match their JSON (camelCase) form too.
func lineOf(doc *jsonValue, p Path) int {
	line := 0
	v := doc
	for _, seg := range splitPath(p) {
		if v == nil {
			break
		}
		if v.line > 0 {
			line = int(v.line)
		}
		switch {
		case seg.index >= 0:
			if v.kind != jsonArray || seg.index >= len(v.vals) {
				return line
			}
			v = v.vals[seg.index]
		default:
			var next *jsonValue
			for i, k := range v.keys {
				if k == seg.name || (!seg.key && sameFieldName(k, seg.name)) {
					next = v.vals[i]
					break
				}
			}
			v = next
		}
	}
	if v != nil && v.line > 0 {
		line = int(v.line)
	}
	return line
}

type pathSegment struct {
	name  string
	key   bool // a map key, matched exactly
	index int  // a list index, or -1
}

// splitPath splits "a.b[2].c[\"k\"]" into its segments.
func splitPath(p Path) []pathSegment {
	var segs []pathSegment
	s := string(p)
	for len(s) > 0 {
		switch s[0] {
		case '.':
			s = s[1:]
		case '[':
			end := strings.IndexByte(s, ']')
			if len(s) > 1 && s[1] == '"' {
				if q, err := strconv.QuotedPrefix(s[1:]); err == nil {
					k, _ := strconv.Unquote(q)
					segs = append(segs, pathSegment{name: k, key: true, index: -1})
					s = s[1+len(q):]
					s = strings.TrimPrefix(s, "]")
					continue
				}
			}
			if end < 0 {
				return segs
			}
			i, err := strconv.Atoi(s[1:end])
			if err != nil {
				return segs
			}
			segs = append(segs, pathSegment{index: i})
			s = s[end+1:]
		default:
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			segs = append(segs, pathSegment{name: s[:end], index: -1})
			s = s[end:]
		}
	}
	return segs
}

// sameFieldName reports whether JSON key k names proto field name f
// ("statPrefix" and "stat_prefix").
func sameFieldName(k, f string) bool {
	return strings.EqualFold(strings.ReplaceAll(k, "_", ""), strings.ReplaceAll(f, "_", ""))
}
