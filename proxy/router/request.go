package router

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// outRequest fills in dst, the upstream request of one try, with u (filled
// in here) as its URL. Header and Trailer are shared with the downstream
// request, which the router owns by now.
func outRequest(dst *http.Request, ctx context.Context, r *http.Request, u *url.URL, path, authority string, body io.ReadCloser) {
	*u = url.URL{Scheme: "http", Host: authority}
	p, q, hasQuery := strings.Cut(path, "?")
	if strings.HasPrefix(p, "//") {
		u.Path = p // Opaque may not start with "//"
	} else {
		u.Opaque = p
	}
	u.RawQuery, u.ForceQuery = q, hasQuery && q == ""
	// Built on the stack and copied into dst (the exchange's, for a first
	// try): WithContext is inlined and its copy does not escape either,
	// so the request costs no allocation of its own.
	out := http.Request{
		Method:        r.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.Header,
		Trailer:       r.Trailer,
		Body:          body,
		ContentLength: r.ContentLength,
		Host:          authority,
	}
	if body == http.NoBody {
		out.ContentLength = 0
	}
	if r.ProtoMajor == 2 {
		// use_downstream_protocol_config reads the downstream protocol.
		out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/2.0", 2, 0
	}
	*dst = *out.WithContext(ctx)
}
