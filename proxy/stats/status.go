package stats

import (
	"strconv"
	"sync/atomic"
)

// StatusCounters are the code-keyed counters Envoy keeps beside a request
// counter: "<stem>_<class>xx" and "<stem>_<code>" (upstream_rq_2xx and
// upstream_rq_200), exposed to Prometheus as
// <stem>_xx{envoy_response_code_class="2"} and
// <stem>{envoy_response_code="200"}.
//
// Counters are created the first time a code is seen; after that Record
// takes no lock and does not allocate. Codes outside 100..599 are not
// counted.
type StatusCounters struct {
	scope   Scope
	stem    string
	classes [6]atomic.Pointer[Counter] // index 1..5
	// codes[class][code%100], each class's table allocated on first use:
	// most clusters only ever see a class or two, and there may be
	// thousands of clusters.
	codes [6]atomic.Pointer[codeTable]
}

type codeTable [100]atomic.Pointer[Counter]

// NewStatusCounters returns the counters "<stem>_*" of scope, e.g.
// NewStatusCounters(ClusterScope(store, "backend"), "upstream_rq").
func NewStatusCounters(scope Scope, stem string) *StatusCounters {
	return &StatusCounters{scope: scope, stem: stem}
}

// WithClasses creates the five class counters now, so that they are
// listed (at 0) before any response: Envoy's connection manager declares
// downstream_rq_1xx..5xx up front, while cluster classes appear on use.
func (s *StatusCounters) WithClasses() *StatusCounters {
	for c := 1; c <= 5; c++ {
		s.Class(c)
	}
	return s
}

// Record counts one response with status code.
func (s *StatusCounters) Record(code int) {
	class := code / 100
	if class < 1 || class > 5 {
		return
	}
	if c := s.classes[class].Load(); c != nil {
		c.Inc()
	} else {
		s.Class(class).Inc()
	}
	if t := s.codes[class].Load(); t != nil {
		if c := t[code%100].Load(); c != nil {
			c.Inc()
			return
		}
	}
	s.Code(code).Inc()
}

// Class returns the counter of class (1..5), creating it if needed; nil
// for other classes.
func (s *StatusCounters) Class(class int) *Counter {
	if class < 1 || class > 5 {
		return nil
	}
	if c := s.classes[class].Load(); c != nil {
		return c
	}
	d := strconv.Itoa(class)
	// The store returns the same counter to racing creators, so a lost
	// race only stores the same pointer twice.
	c := s.scope.CounterAs(s.stem+"_"+d+"xx", s.stem+"_xx", Tag{Name: TagResponseCodeClass, Value: d})
	s.classes[class].Store(c)
	return c
}

// Code returns the counter of code (100..599), creating it if needed; nil
// for other codes.
func (s *StatusCounters) Code(code int) *Counter {
	if code < 100 || code > 599 {
		return nil
	}
	t := s.codes[code/100].Load()
	if t == nil {
		s.codes[code/100].CompareAndSwap(nil, new(codeTable))
		t = s.codes[code/100].Load()
	}
	if c := t[code%100].Load(); c != nil {
		return c
	}
	d := strconv.Itoa(code)
	c := s.scope.CounterAs(s.stem+"_"+d, s.stem, Tag{Name: TagResponseCode, Value: d})
	t[code%100].Store(c)
	return c
}
