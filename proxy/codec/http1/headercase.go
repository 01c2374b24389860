package http1

import "net/http"

// ResponseHeaderCase returns the case in which the upstream wrote the
// header names of resp (names already canonical are not listed), when the
// ClientConn records it (ClientConfig.PreserveCase, or a request context
// carrying a HeaderCase). Call it before replacing resp.Body: the record
// travels with the body.
func ResponseHeaderCase(resp *http.Response) HeaderCase {
	if b, ok := resp.Body.(*responseBody); ok {
		return b.headerCase()
	}
	return nil
}

// SetHeaderCase makes the server write w's response header names in the
// case hc records (typically ResponseHeaderCase of the upstream
// response), when ServerConfig.PreserveCase is set. w is the
// ResponseWriter ServeConn passed to the handler, or a wrapper of it with
// an Unwrap() http.ResponseWriter method. It reports whether it took
// effect.
func SetHeaderCase(w http.ResponseWriter, hc HeaderCase) bool {
	for {
		switch x := w.(type) {
		case *response:
			if !x.sc.preserveCase {
				return false
			}
			x.hc = hc
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return false
		}
	}
}
