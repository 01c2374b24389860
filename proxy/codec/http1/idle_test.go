package http1

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func TestTheIdleTimerClosesOnlyAConnectionThatWaitedForTheWholeTimeout(t *testing.T) {
	tests := []struct {
		name        string
		idle        bool          // waiting for a request when the timer fires
		waited      time.Duration // how long it has waited by then
		wantExpired bool
		wantArmed   bool
	}{
		{name: "a connection that waited less is checked again later", idle: true, waited: time.Minute, wantArmed: true},
		{name: "a connection that waited the whole timeout is interrupted", idle: true, waited: 2 * time.Hour, wantExpired: true},
		{name: "a connection serving a request is left alone until it waits again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := net.Pipe()
			defer c.Close()
			defer peer.Close()
			sc := &serverConn{conn: c, idleTimeout: time.Hour}
			sc.idleTimer.t = time.AfterFunc(time.Hour, sc.idleFired)
			defer sc.stopTimers()
			sc.idle = tt.idle
			sc.idleTimer.since = monotime() - int64(tt.waited)
			sc.idleTimer.armed = true

			sc.idleFired() // as the timer armed for an earlier wait would

			if sc.idleExpired != tt.wantExpired || sc.idleTimer.armed != tt.wantArmed {
				t.Errorf("expired %v, armed again %v; want %v, %v", sc.idleExpired, sc.idleTimer.armed, tt.wantExpired, tt.wantArmed)
			}
			go peer.Write([]byte("G")) // a request arriving; unread if the wait was interrupted
			_, err := c.Read(make([]byte, 1))
			if interrupted := errors.Is(err, os.ErrDeadlineExceeded); interrupted != tt.wantExpired {
				t.Errorf("read after the timer: %v; want an interrupted read: %v", err, tt.wantExpired)
			}
		})
	}
}
