package fsm

import (
	"context"
	"fmt"
)

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
