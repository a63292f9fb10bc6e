package fsm

import (
	"context"
	"fmt"
)

// This file schedules steps: the queue, and the busy flag that makes one
// goroutine at a time the processor.

type op uint8

const (
	opEvent op = iota
	opStop
	opTaskFailed
	opStragglerReturned
	// opDropped is an item the stop has disposed of and reported already
	// (see dropQueued): processing it only tells its firer ErrStopped.
	opDropped
)

type item struct {
	op op
	// fail marks a failure event: with parallel regions it is offered only
	// to the leaves below its scope (item.si).
	fail bool
	ev   int32
	// si and epoch stamp an item from a task or timer with the state entry
	// it reports on; epoch is 0 for events from outside, never stale.
	si      int32
	epoch   uint64
	id      uint64 // non-zero when the firer waits for the outcome
	payload any
	task    string
}

func (m *Machine[S, E]) enqueue(it item) {
	m.mu.Lock()
	if m.q == nil {
		m.q = new(queue)
	}
	m.q.items = append(m.q.items, it)
	m.qlen.Add(1)
	m.mu.Unlock()
}

// enqueueTracked enqueues it with a new id, for drainFor.
func (m *Machine[S, E]) enqueueTracked(it item) uint64 {
	m.mu.Lock()
	if m.q == nil {
		m.q = new(queue)
	}
	q := m.q
	it.id = trackedIDs.Add(1)
	q.items = append(q.items, it)
	m.qlen.Add(1)
	m.mu.Unlock()
	return it.id
}

func (m *Machine[S, E]) dequeue() item {
	m.mu.Lock()
	q := m.q // not nil: qlen counted an item
	it := q.items[q.head]
	q.items[q.head] = item{}
	q.head++
	if q.head == len(q.items) {
		// Drained: the queue goes. Most machines queue events rarely (a
		// task's report, a call from inside), and one idle for hours
		// should not keep one; a burst pays two allocations.
		m.q = nil
	}
	m.qlen.Add(-1)
	m.mu.Unlock()
	return it
}

// kick makes sure queued events get processed without the caller doing it:
// callers inside the machine must not, as a transition may join them.
func (m *Machine[S, E]) kick() {
	if m.busy.CompareAndSwap(false, true) {
		go m.drain()
	}
}

// drain processes queued events until the queue is empty, then releases
// busy.
func (m *Machine[S, E]) drain() {
	for m.qlen.Load() > 0 || !m.release() {
		it := m.dequeue()
		_ = m.process(&it)
	}
}

// drainFor is drain for a firer that holds busy and whose event, with id,
// is queued: it returns that event's outcome.
func (m *Machine[S, E]) drainFor(id uint64) error {
	var err error
	for m.qlen.Load() > 0 || !m.release() {
		it := m.dequeue()
		if e := m.process(&it); it.id == id {
			err = e
		}
	}
	return err
}

// release gives up busy. It reports false if events were queued meanwhile
// and busy was taken back: the caller must process them. The re-check after
// the release closes the race with an enqueue that saw busy still held.
func (m *Machine[S, E]) release() bool {
	m.busy.Store(false)
	return m.qlen.Load() == 0 || !m.busy.CompareAndSwap(false, true)
}

// requestStop queues the stop and processes it on the calling goroutine if
// no other goroutine is processing.
func (m *Machine[S, E]) requestStop() {
	if m.stopReq.CompareAndSwap(false, true) {
		m.enqueue(item{op: opStop})
	}
	if m.busy.CompareAndSwap(false, true) {
		m.drain()
	}
}

// requestStopAsync queues the stop for another goroutine to process.
func (m *Machine[S, E]) requestStopAsync() {
	if m.stopReq.CompareAndSwap(false, true) {
		m.enqueue(item{op: opStop})
	}
	m.kick()
}

// What follows holds postponed events (Postpone) and offers them again once a
// step has changed the active configuration. Only the processor runs it;
// a machine that postpones nothing pays one length check per step.

// postpone keeps the event of it, whose rule c (resolved from leaf l)
// postpones it, or rejects it if the machine holds its limit already.
func (m *Machine[S, E]) postpone(c *cell[S, E], it *item, l int) error {
	d := m.def
	x := m.rare()
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
		leaf, epoch := d.states[l], m.pubEpoch.Load()
		if d.parallel {
			epoch = m.entryEpoch(l) // the leaf's whose rule postponed it, as in a rejection
		}
		m.observe(Record[S, E]{Kind: RecordPostponed, From: leaf, To: leaf, State: d.states[c.at],
			Event: d.events[it.ev], Epoch: epoch, Reason: c.reason, Payload: it.payload})
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
		if len(m.held()) > 0 && !m.stopped0 && m.confChanged() {
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
		return int32(m.cur) != m.ext.rare.heldConf[0]
	}
	if len(m.path) != len(m.ext.rare.heldConf) {
		return true
	}
	for i, lv := range m.path {
		if int32(lv.si) != m.ext.rare.heldConf[i] {
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
	held := m.ext.rare.held
	m.ext.rare.held = nil
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
	held := m.held()
	if held == nil {
		return
	}
	m.ext.rare.held = nil
	for i := range held {
		m.dropEvent(&held[i])
	}
}

// dropEvent disposes of the payload of an event the stop leaves
// unprocessed, and reports the event as dropped.
func (m *Machine[S, E]) dropEvent(it *item) {
	m.guard(where{kind: atDispose}, func() { dispose(it.payload) })
	if m.obs != nil {
		d := m.def
		leaf := d.states[m.cur]
		rec := Record[S, E]{Kind: RecordDropped, From: leaf, To: leaf, State: leaf,
			Event: d.events[it.ev], Epoch: it.epoch, Err: ErrStopped, Payload: it.payload}
		m.guard(where{kind: atObserver}, func() { m.observe(rec) })
	}
}

// dropQueued disposes of the events queued when the machine stops and
// reports them, as dropHeld does, before Done is closed: once Stop has
// returned, their payloads are disposed and the observer gets nothing
// more. Each stays queued, marked, so that a firer draining for its
// outcome still gets ErrStopped. Only the processor dequeues, so the
// items stay where they are while user code runs without the lock.
func (m *Machine[S, E]) dropQueued() {
	m.mu.Lock()
	if m.q == nil {
		m.mu.Unlock()
		return
	}
	head, n := m.q.head, len(m.q.items)
	m.mu.Unlock()
	for i := head; i < n; i++ {
		m.mu.Lock()
		it := m.q.items[i]
		if it.op == opEvent || it.op == opTaskFailed || it.op == opStragglerReturned {
			m.q.items[i] = item{op: opDropped, id: it.id}
		}
		m.mu.Unlock()
		switch it.op {
		case opEvent:
			m.dropEvent(&it)
		case opTaskFailed, opStragglerReturned:
			m.guard(where{kind: atObserver}, func() { _ = m.step(&it) })
		}
	}
}

// Fire fires event without a payload; see FireWith.
func (m *Machine[S, E]) Fire(ctx context.Context, event E) error {
	return m.FireWith(ctx, event, nil)
}

// FireWith fires event with payload.
//
// If ctx does not come from inside the machine and the calling goroutine
// gets to process the event itself (no other goroutine is processing
// events, or it finished meanwhile), the event is processed before FireWith
// returns (including the joins of the states being left), and the error
// tells its outcome: nil for a transition or an ignored or stale event, a
// *RejectedError for a rejected one, a *PanicError if user code panicked
// in the step (the machine has then fail-stopped). Otherwise the event is
// queued behind the events already queued, FireWith returns nil at once,
// and the outcome reaches the observer. FireWith never runs a step nested
// inside another and never waits for a join that includes its caller, as
// long as code inside the machine passes the context it was given.
//
// An event fired with FireWith is never dropped as stale, even when a task
// fires it with its own context: Fire is a request to the machine as it is
// now (a user's Close must close whatever the state), whereas a task
// reports on its own state entry with its Emit, whose events are dropped
// once that entry is over.
//
// On a stopped machine, FireWith returns ErrStopped. An event not in the
// definition returns an error matching ErrUnknownEvent and naming it. In
// both cases the payload is disposed.
func (m *Machine[S, E]) FireWith(ctx context.Context, event E, payload any) error {
	ei, err := m.admit(event, payload)
	if err != nil {
		return err
	}
	it := item{ev: int32(ei), payload: payload}
	if m.Inside(ctx) {
		m.enqueue(it)
		m.kick()
		return nil
	}
	if !m.busy.CompareAndSwap(false, true) {
		id := m.enqueueTracked(it)
		if m.busy.CompareAndSwap(false, true) {
			return m.drainFor(id)
		}
		return nil
	}
	if m.qlen.Load() != 0 {
		// Keep FIFO: earlier events are still queued.
		return m.drainFor(m.enqueueTracked(it))
	}
	err = m.process(&it)
	// Usually nothing was queued meanwhile: releasing busy here spares the
	// hot path the call to drain.
	if m.qlen.Load() > 0 || !m.release() {
		m.drain()
	}
	return err
}

// Post queues event with payload and returns at once: the event is
// processed by another goroutine, after the events queued before it, and
// its outcome reaches the observer. Unlike FireWith, Post never runs a step
// on the calling goroutine, so the caller never waits for a join. Like
// FireWith, it returns ErrStopped on a stopped machine and an error
// matching ErrUnknownEvent for an event not in the definition, disposing
// the payload.
func (m *Machine[S, E]) Post(event E, payload any) error {
	ei, err := m.admit(event, payload)
	if err != nil {
		return err
	}
	m.enqueue(item{ev: int32(ei), payload: payload})
	m.kick()
	return nil
}

// admit returns event's index, or why it cannot be fired (unknown event,
// stopped machine), having disposed of payload then.
func (m *Machine[S, E]) admit(event E, payload any) (int, error) {
	ei, ok := m.def.eventIndex(event)
	if !ok {
		dispose(payload)
		return 0, fmt.Errorf("%w: %v", ErrUnknownEvent, event)
	}
	if m.stopped.Load() {
		dispose(payload)
		return 0, ErrStopped
	}
	return ei, nil
}

// Stop stops the machine: every active state is exited as by a transition
// (the tasks of all of them cancelled, then joined innermost first, then
// their exit hooks run innermost first, with Stopping set), and events
// queued behind the stop are disposed. Events queued before it are
// processed first. Stop is idempotent.
//
// Called from outside, Stop returns once the machine has stopped, or with
// context.Cause(ctx) if ctx ends first. Called with a context from inside the
// machine, it requests the stop and returns nil at once.
func (m *Machine[S, E]) Stop(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	// The stop runs on another goroutine so that ctx bounds this wait even
	// when the join of the current state takes longer.
	m.requestStopAsync()
	if m.Inside(ctx) {
		return nil
	}
	done := m.Done()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		select {
		case <-done: // stopped in time: prefer the success
			return nil
		default:
		}
		return context.Cause(ctx)
	}
}
