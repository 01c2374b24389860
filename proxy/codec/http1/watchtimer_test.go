package http1

import (
	"bufio"
	"net"
	"testing"
	"time"
)

func TestTheWatchTimerWatchesOnlyARequestThatHasRunForWatchAfter(t *testing.T) {
	tests := []struct {
		name        string
		pending     bool          // a request waits to be watched
		ran         time.Duration // how long it has run when the timer fires
		wantWatched bool          // the background read started
		wantArmed   bool          // the timer is armed again
	}{
		{name: "with no request pending the timer stays disarmed"},
		{name: "a request that has run for watchAfter is watched", pending: true, ran: watchAfter, wantWatched: true},
		{name: "a younger request (it came after the one that armed the timer) arms it again for the rest", pending: true, ran: watchAfter / 2, wantArmed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			defer server.Close()
			sc := &serverConn{conn: server, br: bufio.NewReader(server), bgDone: make(chan struct{}, 1)}
			sc.watch.t = time.AfterFunc(time.Hour, func() {})
			defer sc.watch.t.Stop()
			w := &response{sc: sc}
			if tt.pending {
				sc.startBackgroundRead(w)
				sc.bgMu.Lock()
				sc.watch.since = monotime() - int64(tt.ran)
				sc.bgMu.Unlock()
			}
			sc.watchLong() // as the timer would, whenever it fires
			sc.bgMu.Lock()
			watched, armed := sc.bgRunning, sc.watch.armed
			sc.bgMu.Unlock()
			if watched != tt.wantWatched {
				t.Errorf("background read started %v, want %v", watched, tt.wantWatched)
			}
			if armed != tt.wantArmed {
				t.Errorf("armed again %v, want %v", armed, tt.wantArmed)
			}
			sc.stopBackgroundRead(w) // interrupts the background read, if any
		})
	}
}
