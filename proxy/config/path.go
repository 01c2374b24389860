package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Path names a field inside the Bootstrap, in the form Envoy users read:
// "static_resources.listeners[0].filter_chains[1].filters[0].typed_config".
// The zero Path is the root.
type Path string

// Field returns the path of the named field below p.
func (p Path) Field(name string) Path {
	if p == "" {
		return Path(name)
	}
	return p + "." + Path(name)
}

// Index returns the path of element i of the repeated field p.
func (p Path) Index(i int) Path {
	return p + "[" + Path(strconv.Itoa(i)) + "]"
}

// Key returns the path of entry k of the map field p.
func (p Path) Key(k string) Path {
	return p + "[" + Path(strconv.Quote(k)) + "]"
}

// FieldError is one problem found in the configuration, with where it is.
type FieldError struct {
	Path Path
	Err  error
	// Line is the line of the configuration file the problem is on, when
	// the loader knows it (0 otherwise).
	Line int
}

func (e *FieldError) Error() string {
	msg := e.Err.Error()
	if e.Path != "" {
		msg = string(e.Path) + ": " + msg
	}
	if e.Line > 0 {
		msg += " (line " + strconv.Itoa(e.Line) + ")"
	}
	return msg
}

func (e *FieldError) Unwrap() error { return e.Err }

// Errors collects every problem found while loading or translating a
// configuration, so that a user sees all of them at once. The zero value is
// ready to use.
type Errors []*FieldError

// Addf records a problem at path p.
func (e *Errors) Addf(p Path, format string, args ...any) {
	*e = append(*e, &FieldError{Path: p, Err: fmt.Errorf(format, args...)})
}

// Add records err at path p. When err already carries paths (an Errors or a
// *FieldError), they are kept and prefixed by nothing: callers pass full paths.
func (e *Errors) Add(p Path, err error) {
	if err == nil {
		return
	}
	var many Errors
	if errors.As(err, &many) {
		*e = append(*e, many...)
		return
	}
	var one *FieldError
	if errors.As(err, &one) {
		*e = append(*e, one)
		return
	}
	*e = append(*e, &FieldError{Path: p, Err: err})
}

// Err returns nil when nothing was recorded, the Errors otherwise.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Error lists one problem per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}
