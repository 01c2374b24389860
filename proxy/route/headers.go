package route

import (
	"net/http"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// appendAction is Envoy's HeaderValueOption.append_action.
type appendAction uint8

const (
	appendIfExistsOrAdd appendAction = iota
	addIfAbsent
	overwriteIfExistsOrAdd
	overwriteIfExists
)

// headerAdd is one translated request/response_headers_to_add entry.
type headerAdd struct {
	name      string // canonical
	value     value
	action    appendAction
	keepEmpty bool
}

// headerOps is one level's mutations: removals first, then additions, as
// Envoy's header parser applies them.
type headerOps struct {
	remove []string // canonical names
	add    []headerAdd
}

func (o *headerOps) empty() bool { return o == nil || len(o.remove) == 0 && len(o.add) == 0 }

func (o *headerOps) apply(h http.Header, info *streaminfo.Info) {
	for _, name := range o.remove {
		delete(h, name)
	}
	for i := range o.add {
		a := &o.add[i]
		v := a.value.format(info)
		if v == "" && !a.keepEmpty {
			continue
		}
		_, exists := h[a.name]
		switch a.action {
		case appendIfExistsOrAdd:
			h[a.name] = append(h[a.name], v)
		case addIfAbsent:
			if !exists {
				h[a.name] = []string{v}
			}
		case overwriteIfExistsOrAdd:
			h[a.name] = []string{v}
		case overwriteIfExists:
			if exists {
				h[a.name] = []string{v}
			}
		}
	}
}

// Mutations are the header changes of every level that applies to a
// route, in the order Envoy applies them.
type Mutations []*headerOps

// Apply changes h; info feeds the %…% formatters.
func (m Mutations) Apply(h http.Header, info *streaminfo.Info) {
	for _, o := range m {
		o.apply(h, info)
	}
}

// chain orders levels from the most specific (weighted cluster, route) to
// the least (route configuration), so that by default the least specific
// level's overwrites win, as in Envoy; mostSpecificWins reverses it.
func chain(mostSpecificWins bool, levels ...*headerOps) Mutations {
	var out Mutations
	for _, l := range levels {
		if !l.empty() {
			out = append(out, l)
		}
	}
	if mostSpecificWins {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// translateHeaderOps returns nil for a level without mutations: most have
// none, and a mesh has thousands of routes.
func translateHeaderOps(add []*corev3.HeaderValueOption, remove []string, addPath, removePath config.Path, errs *config.Errors) *headerOps {
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	o := &headerOps{}
	for i, name := range remove {
		if strings.HasPrefix(name, ":") || strings.EqualFold(name, "host") {
			errs.Addf(removePath.Index(i), "route: pseudo-header and host %q may not be removed", name)
			continue
		}
		o.remove = append(o.remove, http.CanonicalHeaderKey(name))
	}
	for i, hv := range add {
		p := addPath.Index(i)
		rejectUnsupported(errs, hv, p, "header", "append", "append_action", "keep_empty_value")
		h := hv.GetHeader()
		if h == nil {
			errs.Addf(p.Field("header"), "route: header is required")
			continue
		}
		rejectUnsupported(errs, h, p.Field("header"), "key", "value", "raw_value")
		if strings.HasPrefix(h.GetKey(), ":") || strings.EqualFold(h.GetKey(), "host") {
			errs.Addf(p.Field("header").Field("key"), "route: pseudo-header and host %q may not be added; use host_rewrite_literal", h.GetKey())
			continue
		}
		raw, vp := h.GetValue(), p.Field("header").Field("value")
		if len(h.GetRawValue()) > 0 {
			if raw != "" {
				errs.Addf(p.Field("header"), "route: value and raw_value are mutually exclusive")
			}
			raw, vp = string(h.GetRawValue()), p.Field("header").Field("raw_value")
			if strings.ContainsAny(raw, "\x00\r\n") {
				// value is checked by its own validation rule; raw_value
				// has none, and these bytes would split the head.
				errs.Addf(vp, "route: raw_value may not contain NUL, CR or LF")
				continue
			}
		}
		v, err := parseValue(raw)
		if err != nil {
			errs.Add(vp, err)
			continue
		}
		a := headerAdd{name: http.CanonicalHeaderKey(h.GetKey()), value: v, keepEmpty: hv.GetKeepEmptyValue()}
		switch hv.GetAppendAction() {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			a.action = appendIfExistsOrAdd
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			a.action = addIfAbsent
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			a.action = overwriteIfExistsOrAdd
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			a.action = overwriteIfExists
		}
		if ap := hv.GetAppend(); ap != nil {
			if hv.GetAppendAction() != corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD {
				errs.Addf(p.Field("append"), "route: append and append_action are mutually exclusive")
			}
			if !ap.GetValue() {
				a.action = overwriteIfExistsOrAdd
			}
		}
		o.add = append(o.add, a)
	}
	return o
}
