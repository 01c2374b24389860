package http1

import "time"

// restartTimer times a wait that restarts often: a connection waiting for
// its next request (the idle timeout), a request running long enough to be
// watched for the client leaving. It stays armed across restarts and, when
// it fires, checks how long the latest wait has lasted, arming itself again
// for the rest when that is too little: a restart costs a clock reading,
// not a timer change. (A stopped or reset timer stays in the runtime's heap
// until it would have fired and wakes the idle process then.) Its owner
// serialises the calls, under its own lock.
type restartTimer struct {
	t     *time.Timer
	since int64 // monotime when the latest wait began
	armed bool  // t will fire
}

// start begins a wait of d, arming the timer to call f unless it is armed.
func (r *restartTimer) start(d time.Duration, f func()) {
	r.since = monotime()
	if r.armed {
		return
	}
	r.armed = true
	if r.t == nil {
		r.t = time.AfterFunc(d, f)
	} else {
		r.t.Reset(d)
	}
}

// expired is what the timer's function asks first. With no wait on it
// reports false and the timer stays disarmed (the next start arms it);
// with one, it reports whether the wait has lasted d, arming the timer
// again for the rest when it has not.
func (r *restartTimer) expired(d time.Duration, waiting bool) bool {
	r.armed = false
	if !waiting {
		return false
	}
	if left := int64(d) - (monotime() - r.since); left > 0 {
		r.armed = true
		r.t.Reset(time.Duration(left))
		return false
	}
	return true
}

// stop stops the timer when its owner ends, so that it does not keep the
// owner until it fires.
func (r *restartTimer) stop() {
	if r.t != nil {
		r.t.Stop()
	}
}

// epoch anchors monotime.
var epoch = time.Now()

// monotime is a monotonic clock reading in nanoseconds.
func monotime() int64 { return int64(time.Since(epoch)) }
