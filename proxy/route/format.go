package route

import (
	"fmt"
	"os"
	"strings"

	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// value is a header value with %…% formatters, split once at translation.
// A value without formatters formats to its literal, without allocating.
type value struct {
	literal string // set when there is no operator
	parts   []part
}

type part struct {
	text string
	op   operator // nil for text
}

type operator func(info *streaminfo.Info) string

var hostname, _ = os.Hostname()

// operators are the formatters header values may use.
var operators = map[string]operator{
	"DOWNSTREAM_REMOTE_ADDRESS": func(i *streaminfo.Info) string {
		return addrPort(i, i.DownstreamRemote.String(), i.DownstreamRemote.IsValid())
	},
	"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": func(i *streaminfo.Info) string {
		return addrPort(i, i.DownstreamRemote.Addr().String(), i.DownstreamRemote.IsValid())
	},
	"DOWNSTREAM_LOCAL_ADDRESS": func(i *streaminfo.Info) string {
		return addrPort(i, i.DownstreamLocal.String(), i.DownstreamLocal.IsValid())
	},
	"DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": func(i *streaminfo.Info) string {
		return addrPort(i, i.DownstreamLocal.Addr().String(), i.DownstreamLocal.IsValid())
	},
	"DOWNSTREAM_DIRECT_REMOTE_ADDRESS": func(i *streaminfo.Info) string {
		return addrPort(i, i.DownstreamDirect.String(), i.DownstreamDirect.IsValid())
	},
	"DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": func(i *streaminfo.Info) string {
		return addrPort(i, i.DownstreamDirect.Addr().String(), i.DownstreamDirect.IsValid())
	},
	"PROTOCOL": func(i *streaminfo.Info) string {
		if i == nil {
			return ""
		}
		return i.Protocol
	},
	"UPSTREAM_REMOTE_ADDRESS": func(i *streaminfo.Info) string {
		if i == nil {
			return ""
		}
		return i.UpstreamHost
	},
	"REQUESTED_SERVER_NAME": func(i *streaminfo.Info) string {
		if i == nil {
			return ""
		}
		return i.RequestedServerName
	},
	"HOSTNAME": func(*streaminfo.Info) string { return hostname },
}

func addrPort(i *streaminfo.Info, s string, ok bool) string {
	if i == nil || !ok {
		return ""
	}
	return s
}

// parseValue splits s into text and operators; "%%" is a literal percent.
func parseValue(s string) (value, error) {
	if !strings.Contains(s, "%") {
		return value{literal: s}, nil
	}
	var v value
	var text strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			text.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			text.WriteByte('%')
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '%')
		if end < 0 {
			return v, fmt.Errorf("route: unterminated %% operator in %q", s)
		}
		name := s[i+1 : i+1+end]
		op, ok := operators[name]
		if !ok {
			return v, fmt.Errorf("route: header formatter %%%s%% is not supported", name)
		}
		if text.Len() > 0 {
			v.parts = append(v.parts, part{text: text.String()})
			text.Reset()
		}
		v.parts = append(v.parts, part{op: op})
		i += end + 1
	}
	if text.Len() > 0 {
		v.parts = append(v.parts, part{text: text.String()})
	}
	if len(v.parts) == 1 && v.parts[0].op == nil {
		return value{literal: v.parts[0].text}, nil
	}
	return v, nil
}

func (v *value) format(info *streaminfo.Info) string {
	if v.parts == nil {
		return v.literal
	}
	if len(v.parts) == 1 {
		return v.parts[0].op(info)
	}
	var b strings.Builder
	for _, p := range v.parts {
		if p.op != nil {
			b.WriteString(p.op(info))
		} else {
			b.WriteString(p.text)
		}
	}
	return b.String()
}
