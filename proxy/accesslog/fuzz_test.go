package accesslog

import (
	"testing"
)

// FuzzCompileTemplate checks that no format string crashes the parser and
// that every format it accepts can be rendered.
func FuzzCompileTemplate(f *testing.F) {
	for _, s := range []string{
		DefaultFormat,
		"%REQ(A?B):3%",
		"%START_TIME(%Y%m%d %E3S %9f %s %Ez)%",
		"%%%%REQ(%)%",
		"%START_TIME(%",
		"%RESPONSE_CODE%%RESPONSE_FLAGS_LONG%",
	} {
		f.Add(s)
	}
	in := fullInfo()
	f.Fuzz(func(t *testing.T, format string) {
		tmpl, err := compileTemplate(format)
		if err != nil {
			return
		}
		(&textFormatter{t: tmpl}).Append(nil, in)
		(&textFormatter{t: tmpl, omitEmpty: true}).Append(nil, in)
	})
}
