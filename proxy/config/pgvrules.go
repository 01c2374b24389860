package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/envoyproxy/protoc-gen-validate/validate"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The rule checks below follow protoc-gen-validate's Go templates
// (templates/goshared): the same tests in the same order, the same
// reasons.

// checkScalar applies a number, bool, string, bytes or enum rule to e.
func (v *validation) checkScalar(e element, rules *validate.FieldRules, w where) {
	val := e.v
	switch r := rules.GetType().(type) {
	case *validate.FieldRules_Float:
		x := r.Float
		checkNumber(v, float32(val.Float()), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Double:
		x := r.Double
		checkNumber(v, val.Float(), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Int32:
		x := r.Int32
		checkNumber(v, int32(val.Int()), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Int64:
		x := r.Int64
		checkNumber(v, val.Int(), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Uint32:
		x := r.Uint32
		checkNumber(v, uint32(val.Uint()), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Uint64:
		x := r.Uint64
		checkNumber(v, val.Uint(), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Sint32:
		x := r.Sint32
		checkNumber(v, int32(val.Int()), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Sint64:
		x := r.Sint64
		checkNumber(v, val.Int(), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Fixed32:
		x := r.Fixed32
		checkNumber(v, uint32(val.Uint()), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Fixed64:
		x := r.Fixed64
		checkNumber(v, val.Uint(), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Sfixed32:
		x := r.Sfixed32
		checkNumber(v, int32(val.Int()), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Sfixed64:
		x := r.Sfixed64
		checkNumber(v, val.Int(), x.Const, x.Lt, x.Lte, x.Gt, x.Gte, x.GetIn(), x.GetNotIn(), x.GetIgnoreEmpty(), w)
	case *validate.FieldRules_Bool:
		if c := r.Bool.Const; c != nil && val.Bool() != *c {
			v.invalid.Addf(w.path(), "value must equal %v", *c)
		}
	case *validate.FieldRules_String_:
		v.checkString(val.String(), r.String_, w)
	case *validate.FieldRules_Bytes:
		v.checkBytes(val.Bytes(), r.Bytes, w)
	case *validate.FieldRules_Enum:
		v.checkEnum(int32(val.Enum()), e.fd.Enum(), r.Enum, w)
	}
}

type number interface {
	~int32 | ~int64 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// checkNumber is the const, range and list rules of every number type.
func checkNumber[T number](v *validation, val T, konst, lt, lte, gt, gte *T, in, notIn []T, ignoreEmpty bool, w where) {
	if ignoreEmpty && val == 0 {
		return
	}
	if konst != nil && val != *konst {
		v.invalid.Addf(w.path(), "value must equal %v", *konst)
	}
	less := func(a, b T) bool { return a < b }
	str := func(x T) string { return fmt.Sprint(x) }
	if reason := outOfRange(val, lt, lte, gt, gte, less, str); reason != "" {
		v.invalid.Addf(w.path(), "%s", reason)
	}
	switch {
	case len(in) > 0 && !contains(in, val):
		v.invalid.Addf(w.path(), "value must be in list %v", in)
	case len(in) == 0 && len(notIn) > 0 && contains(notIn, val):
		v.invalid.Addf(w.path(), "value must not be in list %v", notIn)
	}
}

func contains[T comparable](list []T, x T) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// outOfRange applies lt, lte, gt and gte (nil when absent) as the
// generated code does: a lower bound above the upper one means outside.
// It returns the violation, or "".
func outOfRange[T any](val T, lt, lte, gt, gte *T, less func(a, b T) bool, str func(T) string) string {
	switch {
	case lt != nil && gt != nil:
		if less(*gt, *lt) {
			if !less(*gt, val) || !less(val, *lt) {
				return "value must be inside range (" + str(*gt) + ", " + str(*lt) + ")"
			}
		} else if !less(val, *lt) && !less(*gt, val) {
			return "value must be outside range [" + str(*lt) + ", " + str(*gt) + "]"
		}
	case lt != nil && gte != nil:
		if less(*gte, *lt) {
			if less(val, *gte) || !less(val, *lt) {
				return "value must be inside range [" + str(*gte) + ", " + str(*lt) + ")"
			}
		} else if !less(val, *lt) && less(val, *gte) {
			return "value must be outside range [" + str(*lt) + ", " + str(*gte) + ")"
		}
	case lt != nil:
		if !less(val, *lt) {
			return "value must be less than " + str(*lt)
		}
	case lte != nil && gt != nil:
		if less(*gt, *lte) {
			if !less(*gt, val) || less(*lte, val) {
				return "value must be inside range (" + str(*gt) + ", " + str(*lte) + "]"
			}
		} else if less(*lte, val) && !less(*gt, val) {
			return "value must be outside range (" + str(*lte) + ", " + str(*gt) + "]"
		}
	case lte != nil && gte != nil:
		if less(*gte, *lte) {
			if less(val, *gte) || less(*lte, val) {
				return "value must be inside range [" + str(*gte) + ", " + str(*lte) + "]"
			}
		} else if less(*lte, val) && less(val, *gte) {
			return "value must be outside range (" + str(*lte) + ", " + str(*gte) + ")"
		}
	case lte != nil:
		if less(*lte, val) {
			return "value must be less than or equal to " + str(*lte)
		}
	case gt != nil:
		if !less(*gt, val) {
			return "value must be greater than " + str(*gt)
		}
	case gte != nil:
		if less(val, *gte) {
			return "value must be greater than or equal to " + str(*gte)
		}
	}
	return ""
}

// Patterns of the well-known regexes (protoc-gen-validate's checker).
const (
	httpHeaderName  = "^:?[0-9a-zA-Z!#$%&'*+-.^_|~\x60]+$"
	httpHeaderValue = "^[^\u0000-\u0008\u000A-\u001F\u007F]*$"
	headerString    = "^[^\u0000\u000A\u000D]*$" // non-strict header names and values
)

var uuidPattern = regexp.MustCompile("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

// patterns caches compiled rule patterns.
var patterns sync.Map // string → *regexp.Regexp

func pattern(expr string) *regexp.Regexp {
	if re, ok := patterns.Load(expr); ok {
		return re.(*regexp.Regexp)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		re = regexp.MustCompile(`\A\z.`) // the generator refuses such a rule; never match
	}
	patterns.Store(expr, re)
	return re
}

// stringPattern is a string rule's pattern, or a well-known regex's.
func stringPattern(r *validate.StringRules) (string, bool) {
	switch wk := r.GetWellKnownRegex(); {
	case wk == validate.KnownRegex_HTTP_HEADER_NAME || wk == validate.KnownRegex_HTTP_HEADER_VALUE:
		if r.Strict != nil && !r.GetStrict() {
			return headerString, true
		}
		if wk == validate.KnownRegex_HTTP_HEADER_NAME {
			return httpHeaderName, true
		}
		return httpHeaderValue, true
	case r.Pattern != nil:
		return r.GetPattern(), true
	}
	return "", false
}

func (v *validation) checkString(val string, r *validate.StringRules, w where) {
	if r.GetIgnoreEmpty() && val == "" {
		return
	}
	if r.Const != nil && val != r.GetConst() {
		v.invalid.Addf(w.path(), "value must equal %s", r.GetConst())
	}
	switch {
	case len(r.GetIn()) > 0 && !contains(r.GetIn(), val):
		v.invalid.Addf(w.path(), "value must be in list %v", r.GetIn())
	case len(r.GetIn()) == 0 && len(r.GetNotIn()) > 0 && contains(r.GetNotIn(), val):
		v.invalid.Addf(w.path(), "value must not be in list %v", r.GetNotIn())
	}
	runes := uint64(utf8.RuneCountInString(val))
	switch {
	case r.Len != nil:
		if runes != r.GetLen() {
			v.invalid.Addf(w.path(), "value length must be %d runes", r.GetLen())
		}
	case r.MinLen != nil && r.MaxLen != nil && r.GetMinLen() == r.GetMaxLen():
		if runes != r.GetMinLen() {
			v.invalid.Addf(w.path(), "value length must be %d runes", r.GetMinLen())
		}
	case r.MinLen != nil && r.MaxLen != nil:
		if runes < r.GetMinLen() || runes > r.GetMaxLen() {
			v.invalid.Addf(w.path(), "value length must be between %d and %d runes, inclusive", r.GetMinLen(), r.GetMaxLen())
		}
	case r.MinLen != nil:
		if runes < r.GetMinLen() {
			v.invalid.Addf(w.path(), "value length must be at least %d runes", r.GetMinLen())
		}
	case r.MaxLen != nil:
		if runes > r.GetMaxLen() {
			v.invalid.Addf(w.path(), "value length must be at most %d runes", r.GetMaxLen())
		}
	}
	v.checkByteLength(uint64(len(val)), r.LenBytes, r.MinBytes, r.MaxBytes, w)
	if r.Prefix != nil && !strings.HasPrefix(val, r.GetPrefix()) {
		v.invalid.Addf(w.path(), "value does not have prefix %q", r.GetPrefix())
	}
	if r.Suffix != nil && !strings.HasSuffix(val, r.GetSuffix()) {
		v.invalid.Addf(w.path(), "value does not have suffix %q", r.GetSuffix())
	}
	if r.Contains != nil && !strings.Contains(val, r.GetContains()) {
		v.invalid.Addf(w.path(), "value does not contain substring %q", r.GetContains())
	}
	if r.NotContains != nil && strings.Contains(val, r.GetNotContains()) {
		v.invalid.Addf(w.path(), "value contains substring %q", r.GetNotContains())
	}
	switch {
	case r.GetIp():
		if net.ParseIP(val) == nil {
			v.invalid.Addf(w.path(), "value must be a valid IP address")
		}
	case r.GetIpv4():
		if ip := net.ParseIP(val); ip == nil || ip.To4() == nil {
			v.invalid.Addf(w.path(), "value must be a valid IPv4 address")
		}
	case r.GetIpv6():
		if ip := net.ParseIP(val); ip == nil || ip.To4() != nil {
			v.invalid.Addf(w.path(), "value must be a valid IPv6 address")
		}
	case r.GetEmail():
		if err := validateEmail(val); err != nil {
			v.invalid.Addf(w.path(), "value must be a valid email address: %v", err)
		}
	case r.GetHostname():
		if err := validateHostname(val); err != nil {
			v.invalid.Addf(w.path(), "value must be a valid hostname: %v", err)
		}
	case r.GetAddress():
		if validateHostname(val) != nil && net.ParseIP(val) == nil {
			v.invalid.Addf(w.path(), "value must be a valid hostname, or ip address")
		}
	case r.GetUri():
		if u, err := url.Parse(val); err != nil {
			v.invalid.Addf(w.path(), "value must be a valid URI: %v", err)
		} else if !u.IsAbs() {
			v.invalid.Addf(w.path(), "value must be absolute")
		}
	case r.GetUriRef():
		if _, err := url.Parse(val); err != nil {
			v.invalid.Addf(w.path(), "value must be a valid URI: %v", err)
		}
	case r.GetUuid():
		if !uuidPattern.MatchString(val) {
			v.invalid.Addf(w.path(), "value must be a valid UUID: invalid uuid format")
		}
	}
	if expr, ok := stringPattern(r); ok && !pattern(expr).MatchString(val) {
		v.invalid.Addf(w.path(), "value does not match regex pattern %q", expr)
	}
}

// checkByteLength is the len_bytes, min_bytes and max_bytes rules of a
// string.
func (v *validation) checkByteLength(n uint64, exact, min, max *uint64, w where) {
	switch {
	case exact != nil:
		if n != *exact {
			v.invalid.Addf(w.path(), "value length must be %d bytes", *exact)
		}
	case min != nil && max != nil && *min == *max:
		if n != *min {
			v.invalid.Addf(w.path(), "value length must be %d bytes", *min)
		}
	case min != nil && max != nil:
		if n < *min || n > *max {
			v.invalid.Addf(w.path(), "value length must be between %d and %d bytes, inclusive", *min, *max)
		}
	case min != nil:
		if n < *min {
			v.invalid.Addf(w.path(), "value length must be at least %d bytes", *min)
		}
	case max != nil:
		if n > *max {
			v.invalid.Addf(w.path(), "value length must be at most %d bytes", *max)
		}
	}
}

func (v *validation) checkBytes(val []byte, r *validate.BytesRules, w where) {
	if r.GetIgnoreEmpty() && len(val) == 0 {
		return
	}
	v.checkByteLength(uint64(len(val)), r.Len, r.MinLen, r.MaxLen, w)
	if r.Prefix != nil && !bytes.HasPrefix(val, r.GetPrefix()) {
		v.invalid.Addf(w.path(), "value does not have prefix %s", byteStr(r.GetPrefix()))
	}
	if r.Suffix != nil && !bytes.HasSuffix(val, r.GetSuffix()) {
		v.invalid.Addf(w.path(), "value does not have suffix %s", byteStr(r.GetSuffix()))
	}
	if r.Contains != nil && !bytes.Contains(val, r.GetContains()) {
		v.invalid.Addf(w.path(), "value does not contain %s", byteStr(r.GetContains()))
	}
	inList := func(list [][]byte) bool {
		for _, b := range list {
			if bytes.Equal(b, val) {
				return true
			}
		}
		return false
	}
	switch {
	case len(r.GetIn()) > 0 && !inList(r.GetIn()):
		v.invalid.Addf(w.path(), "value must be in list %v", r.GetIn())
	case len(r.GetIn()) == 0 && len(r.GetNotIn()) > 0 && inList(r.GetNotIn()):
		v.invalid.Addf(w.path(), "value must not be in list %v", r.GetNotIn())
	}
	if len(r.GetConst()) > 0 && !bytes.Equal(val, r.GetConst()) {
		v.invalid.Addf(w.path(), "value must equal %v", r.GetConst())
	}
	switch ip := net.IP(val); {
	case r.GetIp():
		if ip.To16() == nil {
			v.invalid.Addf(w.path(), "value must be a valid IP address")
		}
	case r.GetIpv4():
		if ip.To4() == nil {
			v.invalid.Addf(w.path(), "value must be a valid IPv4 address")
		}
	case r.GetIpv6():
		if ip.To16() == nil || ip.To4() != nil {
			v.invalid.Addf(w.path(), "value must be a valid IPv6 address")
		}
	}
	if r.Pattern != nil && !pattern(r.GetPattern()).Match(val) {
		v.invalid.Addf(w.path(), "value does not match regex pattern %q", r.GetPattern())
	}
}

// byteStr is how the generated code prints a bytes literal: "\x61\x62".
func byteStr(b []byte) string {
	var s strings.Builder
	s.WriteByte('"')
	for _, c := range b {
		fmt.Fprintf(&s, `\x%X`, c)
	}
	s.WriteByte('"')
	return s.String()
}

func (v *validation) checkEnum(val int32, ed protoreflect.EnumDescriptor, r *validate.EnumRules, w where) {
	name := func(n int32) string {
		if ev := ed.Values().ByNumber(protoreflect.EnumNumber(n)); ev != nil {
			return string(ev.Name())
		}
		return ""
	}
	list := func(ns []int32) string {
		names := make([]string, len(ns))
		for i, n := range ns {
			names[i] = name(n)
		}
		return "[" + strings.Join(names, " ") + "]"
	}
	if r.Const != nil && val != r.GetConst() {
		v.invalid.Addf(w.path(), "value must equal %s", name(r.GetConst()))
	}
	switch {
	case len(r.GetIn()) > 0 && !contains(r.GetIn(), val):
		v.invalid.Addf(w.path(), "value must be in list %s", list(r.GetIn()))
	case len(r.GetIn()) == 0 && len(r.GetNotIn()) > 0 && contains(r.GetNotIn(), val):
		v.invalid.Addf(w.path(), "value must not be in list %s", list(r.GetNotIn()))
	}
	if r.GetDefinedOnly() && ed.Values().ByNumber(protoreflect.EnumNumber(val)) == nil {
		v.invalid.Addf(w.path(), "value must be one of the defined enum values")
	}
}

// validateHostname and validateEmail are the generated code's helpers.
func validateHostname(host string) error {
	s := strings.ToLower(strings.TrimSuffix(host, "."))
	if len(host) > 253 {
		return errors.New("hostname cannot exceed 253 characters")
	}
	for _, part := range strings.Split(s, ".") {
		if l := len(part); l == 0 || l > 63 {
			return errors.New("hostname part must be non-empty and cannot exceed 63 characters")
		}
		if part[0] == '-' {
			return errors.New("hostname parts cannot begin with hyphens")
		}
		if part[len(part)-1] == '-' {
			return errors.New("hostname parts cannot end with hyphens")
		}
		for _, r := range part {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return fmt.Errorf("hostname parts can only contain alphanumeric characters or hyphens, got %s", strconv.Quote(string(r)))
			}
		}
	}
	return nil
}

func validateEmail(addr string) error {
	a, err := mail.ParseAddress(addr)
	if err != nil {
		return err
	}
	addr = a.Address
	if len(addr) > 254 {
		return errors.New("email addresses cannot exceed 254 characters")
	}
	parts := strings.SplitN(addr, "@", 2)
	if len(parts[0]) > 64 {
		return errors.New("email address local phrase cannot exceed 64 characters")
	}
	return validateHostname(parts[1])
}
