package session

import (
	"context"
	"sync"
	"time"
)

// pongDeadline ends the wait for a heartbeat's reply. The peer is given the
// pong timeout of the process's running time: when the deadline's timer
// fires late (the process was overloaded, or starved of CPU by another),
// the reader that would have read the reply was most likely as late, so the
// wait is lengthened by as much as the timer was late, again if the
// extension fires late too, up to maxLateness in all. Lateness of the
// process is not death of the peer: without this, an overloaded machine
// turns late pongs into reconnects, whose handshakes deepen the overload
// (the metastable failure of a fleet of clients). On time, it ends the
// wait at the pong timeout exactly, so a truly silent peer is still found
// within interval + timeout.
//
// One pongDeadline serves every ping of a connection, one at a time.
type pongDeadline struct {
	mu       sync.Mutex
	t        *time.Timer
	cancel   context.CancelFunc // the current ping's; nil between pings
	due      time.Time
	slack    time.Duration // lateness below this is noise, not overload
	budget   time.Duration // extension left for the current ping
	extended int           // extensions of the current ping
	expired  bool
	now      func() time.Time // time.Now; a test's clock
}

// lateSlack is the lateness a deadline ignores: a timer fires a little
// late on any machine.
func lateSlack(timeout time.Duration) time.Duration { return max(timeout/50, time.Millisecond) }

// maxLateness bounds the extensions of one wait.
func maxLateness(timeout time.Duration) time.Duration { return 3 * timeout }

// arm starts the wait of one ping: cancel is called timeout from now, or
// later if the process runs late.
func (d *pongDeadline) arm(timeout time.Duration, cancel context.CancelFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.now == nil {
		d.now = time.Now
	}
	d.cancel, d.expired, d.extended = cancel, false, 0
	d.due = d.now().Add(timeout)
	d.slack, d.budget = lateSlack(timeout), maxLateness(timeout)
	if d.t == nil {
		d.t = time.AfterFunc(timeout, d.fire)
	} else {
		d.t.Reset(timeout)
	}
}

func (d *pongDeadline) fire() {
	d.mu.Lock()
	if d.cancel == nil { // disarmed as it fired
		d.mu.Unlock()
		return
	}
	now := d.now()
	if now.Before(d.due) {
		// A firing of an earlier ping's timer that waited for the lock
		// while that ping was disarmed and this one armed: not this
		// ping's deadline.
		d.mu.Unlock()
		return
	}
	if late := now.Sub(d.due); late > d.slack && d.budget > 0 {
		ext := min(late, d.budget)
		d.budget -= ext
		d.extended++
		d.due = now.Add(ext)
		d.t.Reset(ext)
		d.mu.Unlock()
		return
	}
	d.expired = true
	cancel := d.cancel
	d.mu.Unlock()
	cancel()
}

// disarm ends the current ping's wait and reports whether the deadline
// expired, and how many times it was lengthened.
func (d *pongDeadline) disarm() (expired bool, extended int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t.Stop()
	d.cancel = nil
	return d.expired, d.extended
}

// stop stops the timer for good.
func (d *pongDeadline) stop() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.t != nil {
		d.t.Stop()
	}
	d.cancel = nil
}
