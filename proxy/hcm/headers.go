package hcm

import (
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"unsafe"

	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

// internalPrefixes are the addresses whose requests count as internal
// (Envoy's classic default for internal_address_config): loopback, RFC
// 1918 and unique-local IPv6.
var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
}

func isInternal(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range internalPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Header values the manager sets on most requests, shared rather than
// allocated per request: a value slice is never changed in place (header
// mutations replace or append to it, and its capacity is its length).
var (
	valueHTTP  = []string{"http"}
	valueHTTPS = []string{"https"}
	valueTrue  = []string{"true"}
)

// prepare applies the connection manager's request rules before routing:
// h2c upgrades, HTTP/1.0 host, x-forwarded-for and -proto, x-envoy-internal,
// x-request-id. It returns a status to answer locally, or 0.
func (cm *ConnectionManager) prepare(r *http.Request, info *streaminfo.Info) int {
	// The keys below are canonical constants: indexing the map directly
	// spares Get's and Del's canonicalisation of them on every request.
	h := r.Header
	if v := h["Upgrade"]; len(v) > 0 && strings.EqualFold(v[0], "h2c") {
		// An h2c upgrade is not proxied: serve the request as HTTP/1.
		delete(h, "Upgrade")
		delete(h, "Http2-Settings")
	}
	info.Upgrade = requestedUpgrade(r) // allowed or refused once the route is known (upgradeAllowed)
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 && r.Host == "" && cm.s.defaultHost10 != "" {
		r.Host = cm.s.defaultHost10
	}

	trusted, internal := cm.forwardedFor(h, info.DownstreamDirect.Addr())
	if trusted.IsValid() {
		info.DownstreamRemote = netip.AddrPortFrom(trusted, 0)
		if trusted == info.DownstreamDirect.Addr() {
			info.DownstreamRemote = info.DownstreamDirect
		}
	}
	scheme := valueHTTP
	if info.DownstreamTLS != nil {
		scheme = valueHTTPS
	}
	if cm.s.useRemoteAddress {
		h["X-Forwarded-Proto"] = scheme
		if internal {
			h["X-Envoy-Internal"] = valueTrue
		} else {
			delete(h, "X-Envoy-Internal")
		}
	} else if v := h["X-Forwarded-Proto"]; len(v) == 0 || v[0] == "" {
		h["X-Forwarded-Proto"] = scheme
	}

	info.RequestID = firstValue(h, "X-Request-Id")
	if cm.s.generateRequestID {
		edge := cm.s.useRemoteAddress && !internal
		if info.RequestID == "" || (edge && !cm.s.preserveExtID) {
			v := newUUIDValue()
			h["X-Request-Id"] = v
			info.RequestID = v[0]
		}
	}
	return 0
}

// firstValue is h.Get(key) for a key already in canonical form.
func firstValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// forwardedFor appends the peer to x-forwarded-for when use_remote_address
// is set (unless skip_xff_append) and returns the trusted client address:
// the (xff_num_trusted_hops+1)th address from the right of the header
// (after the append), or the peer when there are not that many. internal
// reports whether the request comes straight from an internal address
// with no other proxy in between, as Envoy decides it.
func (cm *ConnectionManager) forwardedFor(h http.Header, peer netip.Addr) (trusted netip.Addr, internal bool) {
	xff := h["X-Forwarded-For"]
	var list []string
	for _, v := range xff {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				list = append(list, a)
			}
		}
	}
	prior := len(list)
	if cm.s.useRemoteAddress {
		list = append(list, peer.String())
		if !cm.s.skipXFFAppend {
			if prior == 0 {
				h.Set("X-Forwarded-For", peer.String())
			} else {
				h.Set("X-Forwarded-For", strings.Join(xff, ",")+","+peer.String())
			}
		}
	}
	trusted = peer
	if i := len(list) - 1 - cm.s.xffTrustedHops; i >= 0 && i < len(list) {
		if a, err := netip.ParseAddr(list[i]); err == nil {
			trusted = a.Unmap()
		}
	}
	if cm.s.useRemoteAddress {
		internal = prior == 0 && isInternal(trusted)
	} else {
		internal = prior <= 1 && isInternal(trusted)
	}
	return trusted, internal
}

// uuidValue is a header value holding one UUID, and the UUID's bytes: one
// allocation for both.
type uuidValue struct {
	v [1]string
	s [36]byte
}

// newUUIDValue returns a header value of one random (version 4) UUID.
func newUUIDValue() []string {
	u := new(uuidValue)
	fillUUID(&u.s)
	// The bytes are never written again: the string may share them.
	u.v[0] = unsafe.String(&u.s[0], len(u.s))
	return u.v[:]
}

// fillUUID writes a random (version 4) UUID into s.
func fillUUID(s *[36]byte) {
	var b [16]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (8 * i))
		b[8+i] = byte(lo >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
}
