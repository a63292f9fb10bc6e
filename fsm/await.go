package fsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// This file is waiting on a machine: Changed, Await, WhileIn and UntilIn.
// Their state lives in a watch made at the first call, so that a machine
// nobody waits on carries one nil pointer for it.

// watch is what waits on a machine. The processor consults it after every
// change of the active configuration, and ends it at the stop.
type watch struct {
	mu      sync.Mutex
	changed chan struct{} // Changed's; nil until asked for
	done    chan struct{} // Done's; nil until asked for
	states  []*stateWatch // WhileIn's and UntilIn's contexts
	// Await's hold of changed: how many Awaits wait on it, and whether
	// Changed handed it out too. The last Await to return gives back one
	// nobody else holds, so that a machine waited on once (a client's
	// dial) keeps no channel, nor a check at every step, afterwards.
	awaits int32
	shared bool
	ended  bool // the machine has stopped: everything is closed for good
	over   bool // Done's is closed for good: the last thing a stop does
	// dropped: nothing waited on it any more, and the machine let it go
	// (giveBack); a caller that locked it after must take the new one.
	dropped bool
}

// stateWatch is one context of WhileIn (until false) or UntilIn (true).
type stateWatch struct {
	si     int
	until  bool
	seen   uint64 // the epoch published when it was made: later entries are new
	cancel context.CancelCauseFunc
}

// closedChan is the channel Changed returns once the machine has stopped.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// lockedWatch returns the machine's watch, locked: made if there is
// none, made anew if the one found was dropped meanwhile.
func (m *Machine[S, E]) lockedWatch() *watch {
	for {
		w := m.watch.Load()
		if w == nil {
			m.watch.CompareAndSwap(nil, new(watch))
			continue
		}
		w.mu.Lock()
		if !w.dropped {
			return w
		}
		w.mu.Unlock()
	}
}

// Changed returns a channel closed at the machine's next transition (once
// its new configuration is published: State, In and Epoch report it) or
// when it stops. To wait for a state, take the channel first, then check
// State, then wait on the channel: a transition between the two is then
// not missed. Await does just that. A stopped machine returns a closed
// channel.
func (m *Machine[S, E]) Changed() <-chan struct{} { return m.changedFor(false) }

// changedFor is Changed; await marks the channel taken by an Await, which
// gives it back with giveBack.
func (m *Machine[S, E]) changedFor(await bool) chan struct{} {
	w := m.lockedWatch()
	defer w.mu.Unlock()
	if w.ended {
		return closedChan
	}
	if w.changed == nil {
		w.changed = make(chan struct{})
		m.watched.Store(true)
	}
	if await {
		w.awaits++
	} else {
		w.shared = true
	}
	return w.changed
}

// giveBack gives back ch, taken by an Await that returns: if it is still
// the one waited on and no other Await or caller of Changed holds it, it
// is dropped, and the steps stop telling what waits.
func (m *Machine[S, E]) giveBack(ch chan struct{}) {
	w := m.watch.Load()
	if w == nil { // let go by another Await's return: ch was closed by a step
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dropped {
		return
	}
	// ch is no longer w.changed if a step or the stop closed it: nothing
	// held then.
	if w.changed == ch {
		if w.awaits--; w.awaits == 0 && !w.shared {
			w.changed = nil
			m.watched.Store(len(w.states) > 0)
		}
	}
	if w.changed == nil && len(w.states) == 0 && w.done == nil && !w.ended && !w.over {
		// Nothing waits: a machine waited on once (a client's dial)
		// keeps no watch either.
		w.dropped = true
		m.watch.CompareAndSwap(w, nil)
	}
}

// notifyChanged tells what waits that the configuration has changed, on
// the event ev: the channel Changed handed out is closed, and the contexts
// of WhileIn and UntilIn whose condition now holds end. The processor
// calls it once the new configuration is published.
func (m *Machine[S, E]) notifyChanged(ev int) {
	w := m.watch.Load()
	if w == nil {
		return
	}
	var fire []func()
	w.mu.Lock()
	if w.dropped { // let go as nothing waited: one made since saw this step's configuration
		w.mu.Unlock()
		return
	}
	if w.changed != nil {
		close(w.changed)
		w.changed, w.awaits, w.shared = nil, 0, false
	}
	keep := w.states[:0]
	for _, sw := range w.states {
		if cause := m.watchCause(sw, ev); cause != nil {
			c := sw.cancel
			fire = append(fire, func() { c(cause) })
			continue
		}
		keep = append(keep, sw)
	}
	clear(w.states[len(keep):])
	w.states = keep
	m.watched.Store(len(w.states) > 0)
	w.mu.Unlock()
	for _, f := range fire {
		f()
	}
}

// watchCause returns why sw's context ends after the step on ev, or nil
// if it goes on: for WhileIn, its state's entry is over; for UntilIn, its
// state is active. A context made while the step was being published
// (sw.seen older than the step's entries) may see the step as having come
// after it: it then ends as it would have at a call made just before.
func (m *Machine[S, E]) watchCause(sw *stateWatch, ev int) error {
	d := m.def
	epoch, active := m.entryOf(sw.si)
	if sw.until {
		if active {
			return &EnterError{State: d.stateNames[sw.si], Event: d.eventNames[ev]}
		}
		return nil
	}
	if active && epoch <= sw.seen {
		return nil
	}
	return &ExitError{State: d.stateNames[sw.si], Event: d.eventNames[ev]}
}

// entryOf returns the epoch of the active entry of state si, or false if
// si is not active. Only the processor calls it.
func (m *Machine[S, E]) entryOf(si int) (uint64, bool) {
	for _, lv := range m.path {
		if int(lv.si) == si {
			return lv.epoch, true
		}
	}
	return 0, false
}

// doneChan returns Done's channel, made at the first call.
func (m *Machine[S, E]) doneChan() <-chan struct{} {
	w := m.lockedWatch()
	defer w.mu.Unlock()
	if w.over {
		return closedChan
	}
	if w.done == nil {
		w.done = make(chan struct{})
	}
	return w.done
}

// closeDone closes Done's channel: the machine has stopped.
func (m *Machine[S, E]) closeDone() {
	w := m.lockedWatch()
	defer w.mu.Unlock()
	w.over = true
	if w.done != nil {
		close(w.done)
	}
}

// endChanged ends what waits for good: the machine has stopped. WhileIn's
// contexts end with an *ExitError, UntilIn's with ErrStopped.
func (m *Machine[S, E]) endChanged() {
	w := m.lockedWatch() // a Changed racing the stop must find it ended
	d := m.def
	if w.changed != nil {
		close(w.changed)
		w.changed, w.awaits, w.shared = nil, 0, false
	}
	w.ended = true
	states := w.states
	w.states = nil
	m.watched.Store(false)
	w.mu.Unlock()
	for _, sw := range states {
		if sw.until {
			sw.cancel(fmt.Errorf("fsm: %s was not entered: %w", d.stateNames[sw.si], ErrStopped))
		} else {
			sw.cancel(&ExitError{State: d.stateNames[sw.si]})
		}
	}
}

// Await waits until pred holds, and returns nil; or until ctx ends, and
// returns context.Cause(ctx); or until the machine stops with pred still
// false, and returns an error matching ErrStopped (and the machine's Err,
// if it failed). pred is called on the caller's goroutine with the
// machine, first at once, then after each transition (once its new
// configuration is published) and after the stop: a transition made
// while Await is being called is never missed. pred reads the machine
// (State, In, Epoch, Path) and what the caller owns; it must not block.
//
// A nil ctx or a nil pred is an error matching ErrNilArgument, not a
// panic. A machine that pred is already true of returns nil at once, even
// with ctx done. A task may call Await with its own context (its state's
// exit ends the wait); a hook, an action or the observer must not wait for
// what a later step would bring: the machine takes no step until it
// returns.
func (m *Machine[S, E]) Await(ctx context.Context, pred func(m *Machine[S, E]) bool) error {
	switch {
	case ctx == nil:
		return fmt.Errorf("fsm: Await: %w: ctx", ErrNilArgument)
	case pred == nil:
		return fmt.Errorf("fsm: Await: %w: pred", ErrNilArgument)
	}
	// Looked at before Changed too, so that a call already satisfied
	// leaves no channel behind for the machine to close.
	if pred(m) {
		return nil
	}
	for {
		ch := m.changedFor(true)
		if ch == closedChan {
			if pred(m) {
				return nil
			}
			<-m.Done() // at most the rest of the stop: Done is closed last
			if err := m.Err(); err != nil {
				return fmt.Errorf("fsm: Await: %w in %v: %w", ErrStopped, m.State(), err)
			}
			return fmt.Errorf("fsm: Await: %w in %v", ErrStopped, m.State())
		}
		if pred(m) {
			m.giveBack(ch)
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			m.giveBack(ch)
			return context.Cause(ctx)
		}
	}
}

// WhileIn returns a context derived from ctx that ends when state is left:
// its cause (context.Cause) is then an *ExitError naming the state and
// the event that left it (none if the machine stopped). If state is not
// active when WhileIn is called, the context has ended already, with an
// *ExitError whose Inactive is set. The entry WhileIn watches is the one
// active when it is called: an exit and re-entry (a self-transition) ends
// the context. A transition made while WhileIn is being called is never
// missed: it ends the context if it left the entry the call saw. A state
// not in the definition ends the context at once with an error matching
// ErrUnknownState; a nil ctx is context.Background().
//
// Call cancel once the context is no longer needed, as with
// context.WithCancel: until then (or until it ends) the machine keeps it.
func (m *Machine[S, E]) WhileIn(ctx context.Context, state S) (context.Context, context.CancelFunc) {
	return m.watchState(ctx, state, false)
}

// UntilIn returns a context derived from ctx that ends when state is
// entered (it is active: the leaf or one of its ancestors): its cause is
// then an *EnterError naming the state and the event that entered it. If
// state is active when UntilIn is called, the context has ended already
// (EnterError.Event is empty). If the machine stops first, its cause
// matches ErrStopped. As with WhileIn, a transition made during the call
// is never missed, an unknown state ends it at once (ErrUnknownState),
// and cancel should be called once it is no longer needed.
func (m *Machine[S, E]) UntilIn(ctx context.Context, state S) (context.Context, context.CancelFunc) {
	return m.watchState(ctx, state, true)
}

func (m *Machine[S, E]) watchState(ctx context.Context, state S, until bool) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	c, cancel := context.WithCancelCause(ctx)
	d := m.def
	si, ok := d.stateIdx[state]
	if !ok {
		cancel(fmt.Errorf("%w: %v", ErrUnknownState, state))
		return c, func() { cancel(context.Canceled) }
	}
	sw := &stateWatch{si: si, until: until, cancel: cancel}
	w := m.lockedWatch()
	// watched is set before the configuration is read, and a step
	// publishes its configuration before it reads watched: either this
	// call sees the step's configuration or the step sees this watch.
	m.watched.Store(true)
	// The newest epoch is read before the leaf, which a step publishes
	// first: no entry newer than seen is taken for one seen. (A machine
	// without parallel states publishes its newest entry, its leaf's, as
	// Epoch; one with them, its configuration and newest epoch at once.)
	sw.seen = m.pubEpoch.Load()
	if m.def.parallel {
		sw.seen = uint64(len(d.start)) // before the start's configuration is published
		if c := m.pubConf.Load(); c != nil {
			sw.seen = c.gen
		}
	}
	active := m.In(state)
	var cause error
	switch {
	case w.ended && until && !active:
		cause = fmt.Errorf("fsm: %s was not entered: %w", d.stateNames[si], ErrStopped)
	case w.ended && !until:
		cause = &ExitError{State: d.stateNames[si], Inactive: !active}
	case until && active:
		cause = &EnterError{State: d.stateNames[si]}
	case !until && !active:
		cause = &ExitError{State: d.stateNames[si], Inactive: true}
	default:
		w.states = append(w.states, sw)
	}
	w.mu.Unlock()
	if cause != nil {
		cancel(cause)
		return c, func() { cancel(context.Canceled) }
	}
	forget := func() { m.unwatch(sw) }
	stop := context.AfterFunc(c, forget) // the parent's end, or cancel
	return c, func() {
		cancel(context.Canceled)
		if stop() {
			forget()
		}
	}
}

// unwatch removes sw, whose context has ended, from what waits.
func (m *Machine[S, E]) unwatch(sw *stateWatch) {
	w := m.watch.Load()
	if w == nil { // let go: sw was removed when its context ended
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dropped {
		return
	}
	for i, x := range w.states {
		if x == sw {
			last := len(w.states) - 1
			w.states[i], w.states[last] = w.states[last], nil
			w.states = w.states[:last]
			break
		}
	}
	m.watched.Store(w.changed != nil || len(w.states) > 0)
}

// ErrNilArgument matches the error of Await called with a nil context or
// predicate.
var ErrNilArgument = errors.New("fsm: nil argument")

// ErrUnknownState matches the cause of a WhileIn or UntilIn context made
// for a state the definition does not list.
var ErrUnknownState = errors.New("fsm: unknown state")

// ErrStateEntered matches every *EnterError.
var ErrStateEntered = errors.New("fsm: state entered")

// EnterError is the cause of a context from UntilIn that ended because
// its state was entered. It matches ErrStateEntered.
type EnterError struct {
	State string // the state entered
	Event string // the event that entered it; empty if it was active at the call
}

// Error names the state entered and the event that entered it.
func (e *EnterError) Error() string {
	if e.Event == "" {
		return fmt.Sprintf("fsm: state %s active", e.State)
	}
	return fmt.Sprintf("fsm: state %s entered on %s", e.State, e.Event)
}

// Is reports whether target is ErrStateEntered.
func (e *EnterError) Is(target error) bool { return target == ErrStateEntered }
