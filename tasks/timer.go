package tasks

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"time"
)

// Stepper is the body of a timer task (GoTimer). Step is called with the
// group's context and the task's timer, once when the task starts and
// again each time the timer fires; to be called again, a step re-arms the
// timer (Reset, or Park to wait for a Wake). A step that returns with the
// timer not armed (the last arm fired, and none was made since) ends the
// task with what it returned; one that returns an error ends it too, as a
// failure while the context is live, armed or not. A step that runs again
// at once, because Wake or the cancellation came during the step before,
// replaces what that step armed.
//
// Once the group is cancelled (Cancel, Stop, Halt, a task's failure), the
// task is stepped once more, at once, whether its timer was armed or not;
// when only the parent's context ends, that step comes at the group's
// join (Stop, Halt, Wait). That step sees the context done, must return
// promptly, and must not call Reset, which would arm nothing and step
// the task again.
type Stepper interface {
	Step(ctx context.Context, t *Timer) error
}

// Timer is the timer of a task started with GoTimer. Between steps the task
// holds no goroutine, only the timer: it is a task of its group all the
// same, counted as running until its last step returns, so a join (Stop,
// Halt, Wait) waits for it, and a step still running at the join's
// deadline is reported as a straggler under the task's name. Its methods
// are safe for concurrent use.
type Timer struct {
	rec *task // its record in its group (rec.g)
	s   Stepper
	tm  *time.Timer // made at the first arm
	// Under the group's mu.
	due   time.Duration // since timerBase, when the armed timer is due: a firing before it is an earlier arm's
	state timerState
	again bool // step once more, at once, when the step under way returns
	armed bool // a Reset or Park awaits its firing or Wake: the task goes on
}

// timerBase is the origin of Timer.due: a Duration since it is 8 bytes
// where a time.Time is 24.
var timerBase = time.Now()

func timerNow() time.Duration { return time.Since(timerBase) }

type timerState uint8

const (
	timerStepping timerState = iota // a step runs, or is about to
	timerArmed                      // waiting for the timer, with no goroutine
	timerDone                       // the last step has returned
)

// timerTask is a timer task's record of its Timer (task.fn): a pointer in
// an interface, no allocation.
type timerTask struct{ t *Timer }

// Run is never called: the timer steps the task (Timer.run).
func (timerTask) Run(context.Context) error { return nil }

// GoTimer starts a timer task under name: its first step runs at once, in
// a new goroutine, as a task started with Go would; its later steps run
// when its timer fires, each in the timer's goroutine. See Stepper and
// Timer. After Stop, Halt or Wait, GoTimer starts nothing and returns an
// error matching ErrStopped; a nil s starts nothing and returns an error
// naming the task.
func (g *Group) GoTimer(name string, s Stepper) (*Timer, error) {
	if s == nil {
		return nil, fmt.Errorf("tasks: GoTimer(%q): nil Stepper", name)
	}
	t := &Timer{s: s}
	if err := g.GoTask(name, timerTask{t}); err != nil {
		return nil, err
	}
	return t, nil
}

// Reset arms the timer: the next step runs d from now (at once if d <= 0),
// or, called during a step, d after that call, once the step has returned.
// It reports whether it armed the timer: false once the task has ended,
// and once the group's context is done (the task is then stepped once
// more at once, to see that).
func (t *Timer) Reset(d time.Duration) bool {
	g := t.rec.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !t.armableLocked() {
		return false
	}
	t.due = timerNow() + d
	if t.tm == nil {
		t.tm = time.AfterFunc(d, t.fire)
	} else {
		t.tm.Reset(d)
	}
	t.armed = true
	return true
}

// Park keeps the task for its next Wake, or its group's cancellation,
// with no timer due: called during a step, the task is stepped again only
// then. It reports what Reset would.
func (t *Timer) Park() bool {
	g := t.rec.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !t.armableLocked() {
		return false
	}
	if t.tm != nil {
		t.tm.Stop()
	}
	t.due = math.MaxInt64 // no firing is this one's
	t.armed = true
	return true
}

// armableLocked reports whether the task may be armed: not once it has
// ended, nor once its group's context is done, when it is stepped at once
// instead. g.mu is held.
func (t *Timer) armableLocked() bool {
	if t.state == timerDone {
		return false
	}
	if t.rec.g.ctx.Err() != nil {
		t.wakeLocked()
		return false
	}
	return true
}

// Wake runs the next step now: at once if the timer is armed, right after
// the step under way if one runs. It reports false once the task has
// ended.
func (t *Timer) Wake() bool {
	g := t.rec.g
	g.mu.Lock()
	defer g.mu.Unlock()
	return t.wakeLocked()
}

func (t *Timer) wakeLocked() bool {
	switch t.state {
	case timerDone:
		return false
	case timerStepping:
		t.again = true
	case timerArmed:
		if t.due == math.MinInt64 {
			return true // woken already: its firing is on its way
		}
		t.due = math.MinInt64 // whatever the clock (a test's may be before timerBase)
		if t.tm == nil {      // parked before any Reset
			t.tm = time.AfterFunc(0, t.fire)
		} else {
			t.tm.Reset(0)
		}
	}
	return true
}

// fire is the timer's: it runs the next step, unless it is an earlier
// arm's firing, or a step runs (which then steps again).
func (t *Timer) fire() {
	g := t.rec.g
	g.mu.Lock()
	switch {
	case t.state == timerDone || timerNow() < t.due:
		g.mu.Unlock()
		return
	case t.state == timerStepping:
		t.armed, t.again = false, true
		g.mu.Unlock()
		return
	}
	t.armed, t.state = false, timerStepping
	g.mu.Unlock()
	t.run()
}

// run steps the task until it is armed or done.
func (t *Timer) run() {
	g := t.rec.g
	for {
		err, ok := t.step()
		if !ok {
			return // runtime.Goexit: step has ended the task
		}
		g.mu.Lock()
		again := t.again
		t.again = false
		switch {
		case err != nil || !t.armed && !again:
			g.mu.Unlock()
			t.end(err)
			return
		case again:
			// The step that follows replaces what this one armed: it
			// re-arms if the task goes on, and a firing of the old arm is
			// stale. Kept, the old arm would hold the task past a
			// cancellation's last step until it fired.
			t.armed, t.due = false, math.MaxInt64
			g.mu.Unlock()
		default:
			t.state = timerArmed
			g.mu.Unlock()
			return
		}
	}
}

// step runs one step; a panic is returned as a *PanicError. ok is false
// when the step called runtime.Goexit: the task has then ended, with an
// error matching ErrGoexit, and the goroutine ends.
func (t *Timer) step() (err error, ok bool) {
	returned := false
	defer func() {
		if returned {
			return
		}
		if v := recover(); v != nil {
			err, ok = &PanicError{Task: t.rec.name, Value: v, Stack: debug.Stack()}, true
			return
		}
		t.end(fmt.Errorf("tasks: task %q: %w", t.rec.name, ErrGoexit))
	}()
	err = t.s.Step(t.rec.g.ctx, t)
	returned = true
	return err, true
}

// end ends the task with err, as a task's return.
func (t *Timer) end(err error) {
	g := t.rec.g
	g.mu.Lock()
	t.state = timerDone
	if t.tm != nil {
		t.tm.Stop()
	}
	g.mu.Unlock()
	g.finish(t.rec, err)
}

// cancelAll cancels the group's context with cause and steps its timer
// tasks, so that each sees it.
func (g *Group) cancelAll(cause error) {
	g.cancel(cause)
	g.mu.Lock()
	g.wakeTimersLocked()
	g.mu.Unlock()
}

// wakeTimersLocked steps the group's timer tasks now; g.mu is held.
func (g *Group) wakeTimersLocked() {
	if !g.timers {
		return
	}
	for i := range g.started {
		if tt, ok := g.record(int(i)).fn.(timerTask); ok {
			tt.t.wakeLocked()
		}
	}
}
