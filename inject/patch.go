package inject

import (
	"strconv"
	"strings"
)

// Op is one JSON Patch (RFC 6902) operation. Value holds a typed Kubernetes value (a
// Container, a Probe, a string …) and is serialised only when the patch is.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Patch is a JSON Patch; the operations apply in order.
type Patch []Op

// pointer builds JSON Pointers (RFC 6901) below a root such as "/spec/template".
type pointer string

func (p pointer) field(name string) pointer {
	return p + "/" + pointer(strings.NewReplacer("~", "~0", "/", "~1").Replace(name))
}

func (p pointer) index(i int) pointer { return p + "/" + pointer(strconv.Itoa(i)) }

// appendTo is the path that appends to the array at p.
func (p pointer) appendTo() pointer { return p + "/-" }

func add(p pointer, v any) Op     { return Op{Op: "add", Path: string(p), Value: v} }
func replace(p pointer, v any) Op { return Op{Op: "replace", Path: string(p), Value: v} }
func remove(p pointer) Op         { return Op{Op: "remove", Path: string(p)} }

// splitPointer returns the unescaped tokens of a JSON Pointer.
func splitPointer(p string) []string {
	if p == "" {
		return nil
	}
	toks := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, t := range toks {
		toks[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
	}
	return toks
}
