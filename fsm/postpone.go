package fsm

import "fmt"

// This file holds postponed events (Postpone) and offers them again once a
// step has changed the active configuration. Only the processor runs it;
// a machine that postpones nothing pays one length check per step.

// postpone keeps the event of it, whose rule c (resolved from leaf l)
// postpones it, or rejects it if the machine holds its limit already.
func (m *Machine[S, E]) postpone(c *cell[S, E], it *item, l int) error {
	d := m.def
	x := m.extra()
	if len(x.held) >= d.postponeLimit {
		rej := &RejectedError{State: d.stateNames[l], Event: d.eventNames[it.ev],
			Reason: fmt.Sprintf("%d events postponed already", d.postponeLimit), Err: ErrPostponeLimit}
		if d.parallel {
			return m.rejectIn(rej, c, it, l)
		}
		return m.reject(rej, c, it)
	}
	if len(x.held) == 0 {
		x.heldConf = m.confKey(x.heldConf[:0])
	}
	kept := *it
	kept.id = 0 // its firer has its answer: nil
	x.held = append(x.held, kept)
	if m.obs != nil {
		leaf := d.states[l]
		m.observe(Record[S, E]{Kind: RecordPostponed, From: leaf, To: leaf, State: d.states[c.at],
			Event: d.events[it.ev], Epoch: m.pubEpoch.Load(), Reason: c.reason, Payload: it.payload})
	}
	return nil
}

// processHeld is process while events are held: once the step has changed
// the active configuration, they are queued again ahead of the queue, in
// the order they were postponed.
func (m *Machine[S, E]) processHeld(it *item) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = m.failStop(v)
		}
		if len(m.ext.held) > 0 && !m.stopped0 && m.confChanged() {
			m.replay()
		}
	}()
	return m.step(it)
}

// confKey appends the active configuration to buf, as state indexes: the
// leaf for a machine without parallel states, which settles the rest.
func (m *Machine[S, E]) confKey(buf []int32) []int32 {
	if !m.def.parallel {
		return append(buf, int32(m.cur))
	}
	for _, lv := range m.path {
		buf = append(buf, int32(lv.si))
	}
	return buf
}

// confChanged reports whether the active configuration differs from the
// one the held events saw when the first of them was postponed. A
// self-transition that re-enters the same states is no change (as in
// gen_statem).
func (m *Machine[S, E]) confChanged() bool {
	if !m.def.parallel {
		return int32(m.cur) != m.ext.heldConf[0]
	}
	if len(m.path) != len(m.ext.heldConf) {
		return true
	}
	for i, lv := range m.path {
		if int32(lv.si) != m.ext.heldConf[i] {
			return true
		}
	}
	return false
}

// replay puts the held events back at the head of the queue, in order.
// Each is offered again as it was fired: one a task emitted is stale if
// its entry is over, and one the new configuration postpones is held
// again.
func (m *Machine[S, E]) replay() {
	held := m.ext.held
	m.ext.held = nil
	m.mu.Lock()
	if m.q == nil {
		m.q = new(queue)
	}
	rest := m.q.items[m.q.head:]
	q := make([]item, 0, len(held)+len(rest))
	q = append(append(q, held...), rest...)
	m.q.items, m.q.head = q, 0
	m.qlen.Add(int32(len(held)))
	m.mu.Unlock()
}

// dropHeld disposes of the events held when the machine stops, as of
// those still queued, and reports each as dropped.
func (m *Machine[S, E]) dropHeld() {
	if m.ext == nil {
		return
	}
	held := m.ext.held
	m.ext.held = nil
	d := m.def
	for i := range held {
		it := &held[i]
		m.guard(where{kind: atDispose}, func() { dispose(it.payload) })
		if m.obs != nil {
			leaf := d.states[m.cur]
			rec := Record[S, E]{Kind: RecordDropped, From: leaf, To: leaf, State: leaf,
				Event: d.events[it.ev], Epoch: it.epoch, Err: ErrStopped, Payload: it.payload}
			m.guard(where{kind: atObserver}, func() { m.observe(rec) })
		}
	}
}
