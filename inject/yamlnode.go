package inject

import (
	"encoding/json"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// This file applies a Patch to a parsed YAML document, so that `outrider inject` keeps
// everything it does not touch as it was: field order, unknown fields, comments.

// applyPatch applies ops to the document's root mapping node.
func applyPatch(root *yaml.Node, ops Patch) error {
	for _, op := range ops {
		if err := applyOp(root, op); err != nil {
			return fmt.Errorf("inject: applying %s %s: %w", op.Op, op.Path, err)
		}
	}
	return nil
}

func applyOp(root *yaml.Node, op Op) error {
	toks := splitPointer(op.Path)
	if len(toks) == 0 {
		return fmt.Errorf("cannot change the whole document")
	}
	parent, err := lookup(root, toks[:len(toks)-1])
	if err != nil {
		return err
	}
	if parent == nil && op.Op == "add" {
		// Unlike RFC 6902, create missing mappings: a Job's pod template may have no
		// metadata at all, and the webhook never sees such a pod (the API server fills it).
		parent = makeMappings(root, toks[:len(toks)-1])
	}
	if parent == nil {
		return fmt.Errorf("parent does not exist")
	}
	last := toks[len(toks)-1]
	var val *yaml.Node
	if op.Op != "remove" {
		if val, err = toNode(op.Value); err != nil {
			return err
		}
	}
	switch parent.Kind {
	case yaml.MappingNode:
		i := keyIndex(parent, last)
		switch {
		case op.Op == "remove" && i >= 0:
			parent.Content = append(parent.Content[:i], parent.Content[i+2:]...)
		case op.Op == "remove" || (op.Op == "replace" && i < 0):
			return fmt.Errorf("no field %q", last)
		case i >= 0:
			parent.Content[i+1] = val
		default:
			parent.Content = append(parent.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: last}, val)
		}
	case yaml.SequenceNode:
		n := len(parent.Content)
		if last == "-" && op.Op == "add" {
			parent.Content = append(parent.Content, val)
			return nil
		}
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || i > n || (i == n && op.Op != "add") {
			return fmt.Errorf("index %q out of range [0,%d)", last, n)
		}
		switch op.Op {
		case "add":
			parent.Content = append(parent.Content[:i], append([]*yaml.Node{val}, parent.Content[i:]...)...)
		case "replace":
			parent.Content[i] = val
		case "remove":
			parent.Content = append(parent.Content[:i], parent.Content[i+1:]...)
		}
	default:
		return fmt.Errorf("%q is inside a scalar", last)
	}
	return nil
}

// lookup returns the node at toks below n, or nil when a field is absent.
func lookup(n *yaml.Node, toks []string) (*yaml.Node, error) {
	for _, t := range toks {
		switch n.Kind {
		case yaml.MappingNode:
			i := keyIndex(n, t)
			if i < 0 {
				return nil, nil
			}
			n = n.Content[i+1]
		case yaml.SequenceNode:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil, fmt.Errorf("index %q out of range", t)
			}
			n = n.Content[i]
		default:
			return nil, fmt.Errorf("%q is inside a scalar", t)
		}
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
	}
	return n, nil
}

// makeMappings creates the missing mappings along toks and returns the last.
func makeMappings(n *yaml.Node, toks []string) *yaml.Node {
	for _, t := range toks {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		i := keyIndex(n, t)
		if i < 0 {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t},
				&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
			i = len(n.Content) - 2
		}
		n = n.Content[i+1]
	}
	return n
}

func keyIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// toNode turns a typed value into block-style YAML nodes in its JSON field order.
func toNode(v any) (*yaml.Node, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	n := doc.Content[0]
	plain(n)
	return n, nil
}

// plain drops the flow style and quotes JSON came with; the encoder quotes what needs it.
func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}

// decodeNode decodes n (through JSON, so Kubernetes' JSON field names apply) into out.
func decodeNode(n *yaml.Node, out any) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
