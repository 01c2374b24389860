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
