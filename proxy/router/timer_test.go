package router

import (
	"context"
	"testing"
	"time"
)

func exchangeWithTimeout(d time.Duration) *exchange {
	x := &exchange{timeout: d}
	x.ctx, x.cancelFn = context.WithCancelCause(context.Background())
	return x
}

func TestAPooledRouteTimerTimesOutOnlyTheExchangeItServesAtItsDeadline(t *testing.T) {
	tests := []struct {
		name      string
		passed    bool // the exchange's deadline has passed when the timer fires
		released  bool
		wantCause error
	}{
		{name: "an exchange whose deadline passed is cancelled with the route timeout", passed: true, wantCause: errRouteTimeout},
		{name: "an exchange before its deadline is left alone and the timer armed again"},
		{name: "a released timer cancels nothing", passed: true, released: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			earlier := exchangeWithTimeout(time.Hour)
			startRouteTimer(earlier).release() // the timer stays armed in the pool

			x := exchangeWithTimeout(time.Hour)
			rt := startRouteTimer(x)
			defer rt.t.Stop()
			if tt.passed {
				rt.mu.Lock()
				rt.at -= int64(2 * time.Hour)
				rt.mu.Unlock()
			}
			if tt.released {
				rt.stop()
			}
			rt.fire() // as the timer would, whenever it fires
			if got := context.Cause(x.ctx); got != tt.wantCause {
				t.Errorf("cause %v, want %v", got, tt.wantCause)
			}
			if earlier.ctx.Err() != nil {
				t.Error("the exchange the timer served before was cancelled")
			}
			rt.mu.Lock()
			rearmed := rt.due != 0
			rt.mu.Unlock()
			if wantArmed := !tt.passed && !tt.released; rearmed != wantArmed {
				t.Errorf("armed again %v, want %v", rearmed, wantArmed)
			}
		})
	}
}
