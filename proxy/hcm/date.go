package hcm

import (
	"net/http"
	"sync/atomic"
	"time"
)

// dateValue is the Date header of one second, shared by every response
// sent in it (formatting it per response would cost an allocation).
type dateValue struct {
	unix int64
	v    []string
}

var currentDate atomic.Pointer[dateValue]

// setDate adds a Date header to a response that has none, as Envoy does
// (RFC 9110 §6.6.1: a proxy forwarding a response without Date adds one).
// An upstream's Date is kept.
func setDate(h http.Header) {
	if v := h["Date"]; len(v) != 0 && v[0] != "" {
		return
	}
	h["Date"] = dateNow(time.Now())
}

// dateNow is the header value for now, formatted once per second. The
// slice's capacity is 1, so that a filter appending to it copies it.
func dateNow(now time.Time) []string {
	unix := now.Unix()
	if d := currentDate.Load(); d != nil && d.unix == unix {
		return d.v
	}
	v := []string{now.UTC().Format(http.TimeFormat)}
	currentDate.Store(&dateValue{unix: unix, v: v[:1:1]})
	return v[:1:1]
}
