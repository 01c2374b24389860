package demo

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Live shows successive reports: on a terminal it redraws one frame in
// place with plain ANSI escapes (cursor up, erase line), elsewhere (a pipe,
// a CI log) it writes one line per report and the whole frame at the end.
type Live struct {
	w      io.Writer
	tty    bool
	width  int // columns: lines are cut to fit, since a wrapped line would break the redraw
	height int // rows: a taller frame cannot be redrawn in place
	lines  int // lines of the frame on screen
}

// NewLive returns a view writing to w. tty says whether w is a terminal
// of width columns and height rows (0: 80 by 24).
func NewLive(w io.Writer, tty bool, width, height int) *Live {
	if width <= 0 {
		width = 80
	}
	if height <= 0 {
		height = 24
	}
	return &Live{w: w, tty: tty, width: width, height: height}
}

// Update shows r.
func (l *Live) Update(r Report) {
	frame := strings.Split(strings.TrimSuffix(Frame(r), "\n"), "\n")
	if !l.tty || len(frame) >= l.height {
		fmt.Fprintln(l.w, Line(r))
		return
	}
	var b strings.Builder
	if l.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\r", l.lines)
	}
	for _, line := range frame {
		b.WriteString(cut(line, l.width-1))
		b.WriteString("\x1b[K\n")
	}
	b.WriteString("\x1b[J")
	l.lines = len(frame)
	io.WriteString(l.w, b.String())
}

// Final shows the last report in full, lines uncut: nothing is redrawn
// after it.
func (l *Live) Final(r Report) {
	if !l.tty || l.lines == 0 {
		fmt.Fprintln(l.w, Line(r))
		fmt.Fprint(l.w, "\n"+Frame(r))
		return
	}
	if l.lines > 0 {
		fmt.Fprintf(l.w, "\x1b[%dA\r\x1b[J", l.lines)
	}
	l.lines = 0
	fmt.Fprint(l.w, Frame(r))
}

// cut shortens s to n runes, marking the cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…"
}
