package router

import (
	"net/http"
	"net/textproto"
	"strings"
)

// removeHopByHop deletes the hop-by-hop fields of RFC 9110 §7.6.1 from h:
// Connection and every field it names, Keep-Alive, Proxy-Connection,
// Transfer-Encoding, Upgrade (unless an upgrade is being proxied) and TE,
// which is kept only as "te: trailers" on requests (gRPC needs it).
func removeHopByHop(h http.Header, keepUpgrade, request bool) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			name = textproto.TrimString(name)
			if name == "" {
				continue
			}
			if keepUpgrade && strings.EqualFold(name, "upgrade") {
				continue
			}
			delete(h, http.CanonicalHeaderKey(name))
		}
	}
	if !keepUpgrade {
		delete(h, "Connection")
		delete(h, "Upgrade")
	} else {
		h["Connection"] = []string{"Upgrade"}
	}
	delete(h, "Keep-Alive")
	delete(h, "Proxy-Connection")
	delete(h, "Transfer-Encoding")
	delete(h, "Http2-Settings")
	if te, ok := h["Te"]; ok {
		if request && len(te) == 1 && strings.EqualFold(strings.TrimSpace(te[0]), "trailers") {
			h["Te"] = []string{"trailers"}
		} else {
			delete(h, "Te")
		}
	}
}

// isUpgrade reports whether r asks for a websocket upgrade.
func isUpgrade(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(textproto.TrimString(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}
