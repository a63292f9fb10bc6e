package session

import (
	"fmt"
	"time"
)

// WithIdleTimeout sets the data watchdog: a connection on which no data
// message arrives for d is Lost, with a cause matching ErrIdleTimeout (the
// retry policy sees KindIdle). Only data messages count: protocol pongs,
// the application heartbeat's replies and the peer's application pings
// answered by WithPingResponder do not, so a "zombie" feed that answers
// pings and sends nothing is found. The clock starts when the connection
// is Alive. 0, the default, turns the watchdog off.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idleTimeout = d } }

// watchdog is the data watchdog of one connection. The pump stamps each
// data message (session.lastData); the timer wakes the heartbeat (in the
// reader task) only when the idle timeout could have passed. A nil *watchdog is off.
type watchdog struct {
	d time.Duration
	t *time.Timer
	s *session
}

func newWatchdog(d time.Duration, s *session) *watchdog {
	if d <= 0 {
		return nil
	}
	return &watchdog{d: d, t: time.NewTimer(d), s: s}
}

// C returns the channel the timer fires on; nil (never) when off.
func (w *watchdog) C() <-chan time.Time {
	if w == nil {
		return nil
	}
	return w.t.C
}

// check fails with ErrIdleTimeout once no data message has come for the
// idle timeout while the connection was read; otherwise it sets the timer
// for when it could have. While a handler holds the reader the peer is
// slowed down, not silent: the silence counts again from the moment the
// reader is given back, so a feed that went quiet is still found within
// the idle timeout of the handler's return.
func (w *watchdog) check() error {
	if w == nil {
		return nil
	}
	idle, ok := w.s.sinceData()
	if !ok {
		w.t.Reset(w.d)
		return nil
	}
	if idle >= w.d {
		return fmt.Errorf("%w: no data for %v", ErrIdleTimeout, idle.Round(time.Millisecond))
	}
	w.t.Reset(w.d - idle)
	return nil
}

func (w *watchdog) stop() {
	if w != nil {
		w.t.Stop()
	}
}
