package fsm

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
		exits[i] = exit{si: lv.si, cause: &ExitError{State: d.stateNames[lv.si]}}
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
	t := Transition[S, E]{From: from, Env: m.cold.env, Stopping: true}
	for i := n - 1; i >= 0; i-- {
		lv := m.path[i]
		m.path = m.path[:i]
		if lv.entered {
			t.State, t.Epoch = d.states[lv.si], lv.epoch
			for _, h := range d.per[lv.si].exit {
				m.guard(where{kind: atExit, si: lv.si}, func() { h(m.inner(), t) })
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
		rec := Record[S, E]{Kind: RecordStopped, From: from, To: from, State: from, Epoch: m.epoch, Join: join, Exited: exited, Err: err}
		m.guard(where{kind: atObserver}, func() { m.observe(rec) })
	}
	m.dropHeld()
	if x := m.ext; x != nil {
		if x.detach != nil {
			x.detach()
		}
		if x.cancel != nil {
			x.cancel(ErrStopped)
		}
		x.joiner.Release() // its timer would hold the machine until the last join's deadline
	}
	// Done is closed last: a caller woken by it (Stop from outside) must
	// find every other observable of the machine final, Changed included.
	m.endChanged()
	m.closeDone()
}
