package http2

import (
	"net/http"
	"strings"

	"golang.org/x/net/http2/hpack"
)

// commonHeaders are the header names that need no allocation to convert
// between the wire's lower case and Go's canonical form.
var commonHeaders = [...]string{
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
	"Access-Control-Allow-Credentials", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Max-Age",
	"Access-Control-Request-Headers", "Access-Control-Request-Method", "Age", "Allow",
	"Authorization", "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
	"Content-Length", "Content-Location", "Content-Range", "Content-Type", "Cookie", "Date", "Etag",
	"Expect", "Expires", "From", "Grpc-Accept-Encoding", "Grpc-Encoding", "Grpc-Message",
	"Grpc-Status", "Grpc-Status-Details-Bin", "Grpc-Timeout", "Host", "If-Match",
	"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Last-Modified",
	"Link", "Location", "Max-Forwards", "Origin", "Proxy-Authenticate", "Proxy-Authorization",
	"Range", "Referer", "Refresh", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security",
	"Te", "Trailer", "Transfer-Encoding", "User-Agent", "Vary", "Via", "Www-Authenticate",
	"X-Content-Type-Options", "X-Envoy-Attempt-Count", "X-Envoy-Expected-Rq-Timeout-Ms",
	"X-Envoy-Upstream-Service-Time", "X-Forwarded-For", "X-Forwarded-Proto", "X-Frame-Options",
	"X-Request-Id", "X-B3-Traceid", "X-B3-Spanid", "X-B3-Sampled", "Traceparent", "Tracestate",
}

var (
	lowerToCanonical = make(map[string]string, len(commonHeaders))
	canonicalToLower = make(map[string]string, len(commonHeaders))
)

func init() {
	for _, k := range commonHeaders {
		lk := strings.ToLower(k)
		lowerToCanonical[lk] = k
		canonicalToLower[k] = lk
	}
}

// canonicalKey turns a wire name (lower case, checked by the Framer) into
// Go's canonical form.
func canonicalKey(name string) string {
	if k, ok := lowerToCanonical[name]; ok {
		return k
	}
	return http.CanonicalHeaderKey(name)
}

// nameCache remembers a connection's conversions of header names beyond
// the common ones, up to nameCacheSize of them: a client's upstream
// repeats its own names on every response.
type nameCache struct {
	m    map[string]string
	conv func(string) string // canonicalKey or lowerKey
}

// nameCacheSize bounds each cache, against a peer that sends ever new names.
const nameCacheSize = 256

func (c *nameCache) get(name string) string {
	if v, ok := c.m[name]; ok {
		return v
	}
	v := c.conv(name)
	if len(c.m) < nameCacheSize {
		c.m[name] = v
	}
	return v
}

// lowerKey turns a header map key into its wire form.
func lowerKey(k string) string {
	if lk, ok := canonicalToLower[k]; ok {
		return lk
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(k)
		}
	}
	return k
}

// headerOf builds the header map of a block's regular fields, with key
// giving each wire name's map key; the values share one backing array
// (a repeated name, rare, is copied on append).
func headerOf(fields []hpack.HeaderField, key func(string) string) http.Header {
	h := make(http.Header, len(fields))
	vals := make([]string, len(fields))
	for _, hf := range fields {
		k := key(hf.Name)
		if vv, ok := h[k]; ok {
			h[k] = append(vv, hf.Value)
			continue
		}
		vals[0] = hf.Value
		h[k] = vals[:1:1]
		vals = vals[1:]
	}
	return h
}
