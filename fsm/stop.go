package fsm

import (
	"fmt"
	"runtime/debug"
	"time"
)

// This file takes the last step of every machine: the stop.

// stop exits every active state (cancel all, join innermost first, exit
// hooks of the entered ones innermost first) and ends the machine. A panic
// in a hook or the observer here is recovered and kept, so that the stop
// always completes. cause is the panic that made the machine fail-stop,
// or nil.
func (m *Machine[S, E]) stop(cause *PanicError) {
	if m.stopped0 {
		return
	}
	m.stopped0 = true
	m.stopped.Store(true)
	d := m.def
	from := d.states[m.cur]
	n := len(m.path)
	exits := make([]exit, n)
	for i := n - 1; i >= 0; i-- { // outermost first, as in transition
		lv := &m.path[n-1-i]
		exits[i] = exit{si: int(lv.si), cause: &ExitError{State: d.stateNames[lv.si]}}
		if lv.sc != nil {
			lv.sc.stop(exits[i].cause)
		}
		if x := lv.ext; x != nil {
			for _, t := range x.timers {
				t.Stop()
			}
			x.timers = nil
		}
	}
	join, exited := m.joinLevels(exits, n-1)
	t := Transition[S, E]{From: from, Env: m.env, Stopping: true}
	for i := n - 1; i >= 0; i-- {
		lv := m.path[i]
		m.path = m.path[:i]
		if lv.entered {
			t.State, t.Epoch = d.states[lv.si], lv.epoch
			for _, h := range d.per[lv.si].exit {
				m.guard(where{kind: atExit, si: int32(lv.si)}, func() { h(m.inner(), t) })
			}
		}
		if x := lv.ext; x != nil && x.trace != nil {
			x.trace.End()
		}
	}
	if m.obs != nil {
		var err error
		if cause != nil {
			err = cause
		}
		rec := Record[S, E]{Kind: RecordStopped, From: from, To: from, State: from, Epoch: m.pubEpoch.Load(), Join: join, Exited: exited, Err: err}
		m.guard(where{kind: atObserver}, func() { m.observe(rec) })
	}
	m.dropHeld()
	m.dropQueued()
	if x := m.ext; x != nil {
		if x.detach != nil {
			x.detach()
		}
		if x.inner.Context != nil {
			x.inner.cancellation().cancel(ErrStopped)
		}
		x.joiner.Release() // its timer would hold the machine until the last join's deadline
	}
	// Done is closed last: a caller woken by it (Stop from outside) must
	// find every other observable of the machine final, Changed included.
	m.endChanged()
	m.closeDone()
}

// What follows is what the machine does when user code panics on its
// goroutine: it fail-stops, so that no machine is ever left wedged.

// where names the user code the processor runs, for a panic's report.
type where struct {
	kind whereKind
	si   int32 // int32s keep the machine within a smaller size class
	ei   int32
}

type whereKind uint8

const (
	atMachine whereKind = iota
	atEnter
	atExit
	atAction
	atObserver
	atDispose
	atTimeout
)

func (w where) describe(d interface {
	stateName(int) string
	eventName(int) string
}) string {
	switch w.kind {
	case atEnter:
		return "enter hook of " + d.stateName(int(w.si))
	case atExit:
		return "exit hook of " + d.stateName(int(w.si))
	case atAction:
		return fmt.Sprintf("action of %s × %s", d.stateName(int(w.si)), d.eventName(int(w.ei)))
	case atObserver:
		return "observer"
	case atDispose:
		return "Dispose of a payload"
	case atTimeout:
		return "timeout function of " + d.stateName(int(w.si))
	}
	return "machine"
}

func (d *Definition[S, E]) stateName(i int) string { return d.stateNames[i] }
func (d *Definition[S, E]) eventName(i int) string { return d.eventNames[i] }

// failStop turns a panic recovered from a step into a fail-stop: the
// panic is kept as the machine's error, and the machine stops as by Stop
// (tasks cancelled and joined, exit hooks of the states entered run), so
// nothing is left wedged and the panic does not escape on whatever
// goroutine happened to be processing. It returns the *PanicError for the
// firer.
func (m *Machine[S, E]) failStop(v any) error {
	pe := &PanicError{Where: m.at.describe(m.def), Value: v, Stack: debug.Stack()}
	if m.at.kind == atObserver {
		m.obsBroken = true
	}
	m.failure.CompareAndSwap(nil, pe)
	m.stop(pe)
	return pe
}

// guard runs fn, user code of a stop, keeping a panic as the machine's
// error (unless it has one) instead of letting it cut the stop short.
func (m *Machine[S, E]) guard(w where, fn func()) {
	defer func() {
		if v := recover(); v != nil {
			if w.kind == atObserver {
				m.obsBroken = true
			}
			m.failure.CompareAndSwap(nil, &PanicError{Where: w.describe(m.def), Value: v, Stack: debug.Stack()})
		}
	}()
	fn()
}

// observe hands r to the observer, unless it has panicked before.
func (m *Machine[S, E]) observe(r Record[S, E]) {
	if m.obsBroken {
		return
	}
	r.When = time.Now()
	m.at = where{kind: atObserver}
	m.obs(m.inner(), r)
	m.at.kind = atMachine
}

// dispose disposes of an unconsumed payload on the processor.
func (m *Machine[S, E]) dispose(payload any) {
	if payload == nil {
		return
	}
	m.at = where{kind: atDispose}
	dispose(payload)
	m.at.kind = atMachine
}
