package accesslog

import (
	"fmt"
	"strconv"
	"time"
)

// timeFormat is a compiled strftime-style format (START_TIME's argument):
// the directives Envoy's absl::FormatTime accepts, plus Envoy's %f, %Nf
// and %s. It appends without allocating.
type timeFormat []timeOp

type timeOp struct {
	kind byte   // directive letter, or 0 for literal text
	text string // literal text
	n    int    // digits of a fraction
}

// defaultTimeFormat is Envoy's START_TIME format: 2016-04-15T20:17:00.310Z.
var defaultTimeFormat = mustTimeFormat("%Y-%m-%dT%H:%M:%E3SZ")

func mustTimeFormat(f string) timeFormat {
	tf, err := compileTimeFormat(f)
	if err != nil {
		panic(err)
	}
	return tf
}

// Directive letters used internally for the forms with arguments.
const (
	opFraction   = 'f' // %f / %Nf: n digits of the second's fraction
	opSecondFrac = 'X' // %E#S / %E*S: seconds, a dot and n fraction digits (n<0: trimmed)
	opOffsetColo = 'O' // %Ez: +hh:mm
)

func compileTimeFormat(f string) (timeFormat, error) {
	var ops timeFormat
	lit := func(s string) {
		if n := len(ops); n > 0 && ops[n-1].kind == 0 {
			ops[n-1].text += s
			return
		}
		ops = append(ops, timeOp{text: s})
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			lit(string(c))
			continue
		}
		i++
		if i >= len(f) {
			return nil, fmt.Errorf("time format %q ends with a lone %%", f)
		}
		c = f[i]
		switch {
		case c == '%':
			lit("%")
		case c == 'n':
			lit("\n")
		case c == 't':
			lit("\t")
		case c >= '1' && c <= '9' && i+1 < len(f) && f[i+1] == 'f':
			ops = append(ops, timeOp{kind: opFraction, n: int(c - '0')})
			i++
		case c == 'f':
			ops = append(ops, timeOp{kind: opFraction, n: 9})
		case c == 'E':
			switch {
			case i+2 < len(f) && f[i+1] >= '0' && f[i+1] <= '9' && f[i+2] == 'S':
				ops = append(ops, timeOp{kind: opSecondFrac, n: int(f[i+1] - '0')})
				i += 2
			case i+2 < len(f) && f[i+1] == '*' && f[i+2] == 'S':
				ops = append(ops, timeOp{kind: opSecondFrac, n: -1})
				i += 2
			case i+1 < len(f) && f[i+1] == 'z':
				ops = append(ops, timeOp{kind: opOffsetColo})
				i++
			case i+2 < len(f) && f[i+1] == '4' && f[i+2] == 'Y':
				ops = append(ops, timeOp{kind: 'Y'})
				i += 2
			default:
				return nil, fmt.Errorf("time format %q: unsupported directive %%E%s", f, f[i+1:min(i+3, len(f))])
			}
		case c == 'T':
			ops = append(ops, timeOp{kind: 'H'}, timeOp{text: ":"}, timeOp{kind: 'M'}, timeOp{text: ":"}, timeOp{kind: 'S'})
		case c == 'D':
			ops = append(ops, timeOp{kind: 'm'}, timeOp{text: "/"}, timeOp{kind: 'd'}, timeOp{text: "/"}, timeOp{kind: 'y'})
		case c == 'F':
			ops = append(ops, timeOp{kind: 'Y'}, timeOp{text: "-"}, timeOp{kind: 'm'}, timeOp{text: "-"}, timeOp{kind: 'd'})
		case c == 'R':
			ops = append(ops, timeOp{kind: 'H'}, timeOp{text: ":"}, timeOp{kind: 'M'})
		case c == 'h':
			ops = append(ops, timeOp{kind: 'b'})
		default:
			switch c {
			case 'Y', 'y', 'm', 'd', 'e', 'H', 'I', 'M', 'S', 'p', 'j', 'b', 'B', 'a', 'A', 'u', 'w', 'z', 'Z', 's', 'C', 'G', 'g', 'V':
				ops = append(ops, timeOp{kind: c})
			default:
				return nil, fmt.Errorf("time format %q: unsupported directive %%%c", f, c)
			}
		}
	}
	return ops, nil
}

// appendTime formats t; the caller chooses the zone (UTC for START_TIME).
func (tf timeFormat) appendTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	for _, op := range tf {
		switch op.kind {
		case 0:
			b = append(b, op.text...)
		case 'Y':
			b = appendPad(b, year, 4)
		case 'y':
			b = appendPad(b, year%100, 2)
		case 'C':
			b = appendPad(b, year/100, 2)
		case 'm':
			b = appendPad(b, int(month), 2)
		case 'd':
			b = appendPad(b, day, 2)
		case 'e':
			if day < 10 {
				b = append(b, ' ')
			}
			b = strconv.AppendInt(b, int64(day), 10)
		case 'H':
			b = appendPad(b, hour, 2)
		case 'I':
			h := hour % 12
			if h == 0 {
				h = 12
			}
			b = appendPad(b, h, 2)
		case 'p':
			if hour < 12 {
				b = append(b, "AM"...)
			} else {
				b = append(b, "PM"...)
			}
		case 'M':
			b = appendPad(b, minute, 2)
		case 'S':
			b = appendPad(b, sec, 2)
		case 'j':
			b = appendPad(b, t.YearDay(), 3)
		case 'b':
			b = append(b, month.String()[:3]...)
		case 'B':
			b = append(b, month.String()...)
		case 'a':
			b = append(b, t.Weekday().String()[:3]...)
		case 'A':
			b = append(b, t.Weekday().String()...)
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			b = strconv.AppendInt(b, int64(wd), 10)
		case 'w':
			b = strconv.AppendInt(b, int64(t.Weekday()), 10)
		case 'G':
			y, _ := t.ISOWeek()
			b = appendPad(b, y, 4)
		case 'g':
			y, _ := t.ISOWeek()
			b = appendPad(b, y%100, 2)
		case 'V':
			_, w := t.ISOWeek()
			b = appendPad(b, w, 2)
		case 's':
			b = strconv.AppendInt(b, t.Unix(), 10)
		case 'z', opOffsetColo:
			_, off := t.Zone()
			sign := byte('+')
			if off < 0 {
				sign, off = '-', -off
			}
			b = append(b, sign)
			b = appendPad(b, off/3600, 2)
			if op.kind == opOffsetColo {
				b = append(b, ':')
			}
			b = appendPad(b, off%3600/60, 2)
		case 'Z':
			name, _ := t.Zone()
			b = append(b, name...)
		case opFraction:
			b = appendFraction(b, t.Nanosecond(), op.n)
		case opSecondFrac:
			b = appendPad(b, sec, 2)
			switch {
			case op.n > 0:
				b = append(b, '.')
				b = appendFraction(b, t.Nanosecond(), op.n)
			case op.n < 0 && t.Nanosecond() != 0:
				b = append(b, '.')
				start := len(b)
				b = appendFraction(b, t.Nanosecond(), 9)
				for len(b) > start && b[len(b)-1] == '0' {
					b = b[:len(b)-1]
				}
			}
		}
	}
	return b
}

// appendFraction appends the first n digits of a nanosecond count.
func appendFraction(b []byte, nanos, n int) []byte {
	for d := 100000000; n > 0; d /= 10 {
		b = append(b, byte('0'+nanos/d%10))
		n--
	}
	return b
}

func appendPad(b []byte, v, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var tmp [20]byte
	i := len(tmp)
	for v >= 10 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	i--
	tmp[i] = byte('0' + v)
	for pad := width - (len(tmp) - i); pad > 0; pad-- {
		b = append(b, '0')
	}
	return append(b, tmp[i:]...)
}
