package tasks

// This file is the bounded join: waiting for a group's tasks with a
// deadline, and the Joiner an owner reuses across joins.

import (
	"sync"
	"time"
)

// Joiner is what a join waits with: a channel its group's last task wakes
// it on, and a timer for its deadline, made at its first wait and reused
// by the next. An owner that joins one group after another (a state
// machine joins a group at every exit of a state with tasks) keeps one, so
// that its joins allocate nothing. The zero value is ready. A Joiner serves
// one join at a time, and belongs to the synctest bubble (if any) of its
// first wait.
type Joiner struct {
	wake  chan struct{}
	timer *time.Timer // wakes the join when its deadline passes

	mu       sync.Mutex
	armed    time.Duration // timerNow() when the timer fires; 0 when it is not armed
	deadline time.Duration // timerNow() at the waiting join's deadline; 0 when none waits
}

// Done returns a channel closed once Stop, Halt or Wait has been called and
// every task has returned, stragglers included.
func (g *Group) Done() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.idle == nil {
		g.idle = make(chan struct{})
		if g.quiet {
			close(g.idle)
		}
	}
	return g.idle
}

// join marks the group stopping and waits with j for its tasks, up to
// timeout (none if <= 0), and returns how many still run. The first join's
// wait is the report's Took.
func (g *Group) join(j *Joiner, timeout time.Duration) (left int) {
	var start time.Time
	g.mu.Lock()
	if g.ctx.Err() != nil {
		// Ended by the parent's context, perhaps: a timer task armed
		// would not see it before it fires.
		g.wakeTimersLocked()
	}
	first := !g.stopping
	if first {
		g.stopping = true
		if g.running == 0 {
			g.quietLocked()
		}
	}
	if !g.quiet {
		start = time.Now()
		if j.wake == nil {
			j.wake = make(chan struct{}, 1)
		}
		if g.waiter != nil {
			// Another join waits already (a Wait beside a Stop): it is
			// woken too, through the channel Done closes.
			g.mu.Unlock()
			g.waitDone(timeout)
			g.mu.Lock()
		} else {
			g.waiter = j.wake
			g.mu.Unlock()
			j.wait(g, start, timeout)
			g.mu.Lock()
			g.waiter = nil
			select { // a wake sent as the timer fired
			case <-j.wake:
			default:
			}
		}
	}
	left = int(g.running)
	if first && !start.IsZero() {
		g.took = time.Since(start)
	}
	g.mu.Unlock()
	return left
}

// wait waits from start until g is quiet, or timeout (none if <= 0) has
// passed. The deadline is a timer that wakes the join through the same
// channel as the group's last task, so that the wait is one receive; a
// wake left by the deadline of an earlier join is told apart by the clock.
//
// The timer is armed lazily: a join whose deadline is no earlier than the
// one the timer is armed for leaves it alone, and when it fires early for
// the join then waiting it is armed again for that join's deadline. Arming
// a timer can cost a system call (the runtime wakes a poller sleeping in
// the network poller to tell it of the new deadline), which joins that
// take microseconds, one after another, would otherwise pay every time.
func (j *Joiner) wait(g *Group, start time.Time, timeout time.Duration) {
	var deadline time.Duration
	if timeout > 0 {
		deadline = stamp(timerNow() - time.Since(start) + timeout)
		j.mu.Lock()
		j.deadline = deadline
		if j.armed == 0 || j.armed > deadline {
			j.armed = deadline
			if j.timer == nil {
				j.timer = time.AfterFunc(timeout, j.expire)
			} else {
				j.timer.Reset(timeout)
			}
		}
		j.mu.Unlock()
		defer func() {
			j.mu.Lock()
			j.deadline = 0
			j.mu.Unlock()
		}()
	}
	for {
		<-j.wake
		g.mu.Lock()
		quiet := g.quiet
		g.mu.Unlock()
		if quiet || timeout > 0 && timerNow() >= deadline {
			return
		}
	}
}

// Release stops the Joiner's timer, which stays armed after a join for
// the next one's sake: an owner that joins no more releases it, so that
// the timer holds neither the Joiner nor what it is part of until the
// deadline it was armed for. A later join arms it again.
func (j *Joiner) Release() { j.release() }

// release stops the timer of a Joiner that waits no more: Stop's and
// Wait's own.
func (j *Joiner) release() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.timer != nil {
		j.timer.Stop()
		j.armed = 0
	}
}

// expire is the timer's: it wakes the join waiting if its deadline has
// passed, and arms the timer again for it if not.
func (j *Joiner) expire() {
	j.mu.Lock()
	j.armed = 0
	deadline := j.deadline
	if deadline == 0 {
		j.mu.Unlock()
		return
	}
	if d := deadline - timerNow(); d > 0 {
		j.armed = deadline
		j.timer.Reset(d)
		j.mu.Unlock()
		return
	}
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// waitDone waits for Done, up to timeout (none if <= 0).
func (g *Group) waitDone(timeout time.Duration) {
	done := g.Done()
	if timeout <= 0 {
		<-done
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// stamp returns t, a timerNow() reading, as a Joiner keeps it: never 0,
// which means none.
func stamp(t time.Duration) time.Duration {
	if t == 0 {
		return 1
	}
	return t
}
