package fsm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/connfsm/connfsm/tasks"
)

// This file runs what a state entry owns: its tasks, in a scope whose
// context ends with its parent's, and its timeouts.

// scope is one state entry's context and tasks. Cancelling a scope
// cancels everything below it: stop cancels its kids, the scopes of the
// active child states, as it cancels its own context. Every scope's context
// derives from the machine's (scopes), not from its parent's: a parent's
// context.Context would keep, for as long as it lives, the map Go's
// context package makes of its children at the first (a connection's
// Alive, once its Syncing's tasks have run: 256 bytes).
type scope struct {
	si     int
	epoch  uint64
	ctx    context.Context
	cancel context.CancelCauseFunc // for a scope without tasks of its own
	g      *tasks.Group            // nil if the state has no tasks of its own
	parent *scope
	// kids lists the scopes of the active child states, through their
	// next; under the machine's tree lock.
	kids, next *scope
	m          failer // the machine, told of its tasks' failures
}

// failer is the machine a scope reports its tasks' failures to.
type failer interface {
	taskFailed(sc *scope, name string, err error)
	tree() *sync.Mutex // guards every scope's kids and next
}

// tree returns the lock of the scopes' links: the queue's, held briefly,
// never while calling out of the machine.
func (m *Machine[S, E]) tree() *sync.Mutex { return &m.mu }

// TaskFailed hands the first failure of sc's group to the machine: sc is
// its group's tasks.Owner.
func (sc *scope) TaskFailed(name string, err error) { sc.m.taskFailed(sc, name, err) }

// scopeTask is one task of a scope's entry: its tasks.Task (no adapter
// closure) and the owner of its emit function.
type scopeTask[S, E comparable] struct {
	sc   *scope            // its machine is sc.m: a scope block of one task fits 176 bytes
	def  *taskDef[S, E]    // in the definition, which is immutable
	in   *Transition[S, E] // the step that entered the state, shared by its tasks
	emit Emit[E]
}

func (t *scopeTask[S, E]) Run(ctx context.Context) error { return t.def.fn(ctx, *t.in, t.emit) }

// Step is a timer task's step: the scope task is its tasks.Stepper.
func (t *scopeTask[S, E]) Step(ctx context.Context, tm *tasks.Timer) error {
	return t.def.step(ctx, *t.in, t.emit, tm)
}

// scopeBlock holds a scope, the step that entered its state and the
// records of its tasks in one allocation, for the common entry of a state
// with one or two tasks (N).
type scopeBlock[S, E comparable, N [1]scopeTask[S, E] | [2]scopeTask[S, E]] struct {
	sc   scope
	in   Transition[S, E]
	recs N
}

// stop cancels the scope's context, and its descendants', with cause: a
// context already cancelled keeps its first cause, as with Go's contexts.
func (sc *scope) stop(cause error) {
	sc.cancelOwn(cause)
	sc.stopKids(cause)
}

// stopKids cancels the scopes below sc with cause.
func (sc *scope) stopKids(cause error) {
	mu := sc.m.tree()
	mu.Lock()
	for k := sc.kids; k != nil; k = k.next {
		k.stopLocked(cause)
	}
	mu.Unlock()
}

// stopLocked is stop under the tree lock.
func (sc *scope) stopLocked(cause error) {
	sc.cancelOwn(cause)
	for k := sc.kids; k != nil; k = k.next {
		k.stopLocked(cause)
	}
}

func (sc *scope) cancelOwn(cause error) {
	if sc.g != nil {
		sc.g.Cancel(cause)
	} else {
		sc.cancel(cause)
	}
}

// link makes sc a kid of its parent, before any of its tasks starts: a
// parent already cancelled cancels it at once, with the parent's cause,
// as a context derived from a cancelled one is born cancelled.
func (m *Machine[S, E]) link(sc *scope) {
	p := sc.parent
	if p == nil {
		return
	}
	var cause error
	m.mu.Lock()
	sc.next, p.kids = p.kids, sc
	if p.ctx.Err() != nil {
		cause = context.Cause(p.ctx)
	}
	m.mu.Unlock()
	if cause != nil {
		sc.cancelOwn(cause) // no kids yet
	}
}

// unlink removes sc, whose state has been left and its tasks joined, from
// its parent's kids.
func (m *Machine[S, E]) unlink(sc *scope) {
	p := sc.parent
	if p == nil {
		return
	}
	m.mu.Lock()
	for k := &p.kids; *k != nil; k = &(*k).next {
		if *k == sc {
			*k = sc.next
			break
		}
	}
	m.mu.Unlock()
}

// ancestor returns the scope of state si on sc's chain, sc included.
func (sc *scope) ancestor(si int) *scope {
	for s := sc; s != nil; s = s.parent {
		if s.si == si {
			return s
		}
	}
	return nil
}

// newScope makes the scope of the entry lv, under parent (nil at the top),
// and starts the state's tasks in it; they see in, the step that entered
// the state.
func (m *Machine[S, E]) newScope(lv *level, parent *scope, in *Transition[S, E]) *scope {
	specs := m.def.per[lv.si].tasks
	// Every entry's context derives from the Start context: its end
	// cancels every task at once, with its cause, whatever the machine is
	// doing (see Start for the context that never ends). A parent's end
	// reaches it through link and stop.
	pctx := m.scopes()
	if len(specs) == 0 {
		sc := &scope{si: int(lv.si), epoch: lv.epoch, parent: parent, m: m}
		sc.ctx, sc.cancel = context.WithCancelCause(pctx)
		m.link(sc)
		return sc
	}
	var (
		sc    *scope
		entry *Transition[S, E]
		recs  []scopeTask[S, E]
	)
	switch len(specs) {
	case 1: // 32 bytes less than room for two: a smaller size class
		b := new(scopeBlock[S, E, [1]scopeTask[S, E]])
		sc, entry, recs = &b.sc, &b.in, b.recs[:]
	case 2:
		b := new(scopeBlock[S, E, [2]scopeTask[S, E]])
		sc, entry, recs = &b.sc, &b.in, b.recs[:]
	default:
		sc, entry, recs = new(scope), new(Transition[S, E]), make([]scopeTask[S, E], len(specs))
	}
	*entry = *in
	*sc = scope{si: int(lv.si), epoch: lv.epoch, parent: parent, m: m}
	sc.g = tasks.NewOwned(pctx, sc)
	sc.ctx = sc.g.Context()
	m.link(sc)
	traced := lv.ext != nil && lv.ext.trace != nil
	for i := range specs {
		s, t := &specs[i], &recs[i]
		*t = scopeTask[S, E]{sc: sc, def: s, in: entry}
		t.emit = func(e E, payload any) { t.sc.m.(*Machine[S, E]).emit(t.sc, t.def.name, e, payload) } // one pointer captured
		if s.step != nil {
			_, _ = sc.g.GoTimer(s.name, t) // the group is new: GoTimer cannot refuse
			continue
		}
		var run tasks.Task = t
		if traced {
			run = tasks.Func(m.traceRegion(lv, s.name, t.Run))
		}
		_ = sc.g.GoTask(s.name, run) // the group is new: GoTask cannot refuse
	}
	return sc
}

// taskFailed reports a failed task of sc and, if a failure event applies,
// cancels the failure's scope (the state declaring the event, and all
// below it) and fires the event, stamped with that scope's entry.
func (m *Machine[S, E]) taskFailed(sc *scope, name string, err error) {
	d := m.def
	// The group has cancelled its own context; the scopes below it end
	// with the same cause.
	sc.stopKids(context.Cause(sc.ctx))
	fail := d.per[sc.si].fail
	var f *scope
	if fail >= 0 {
		// The scope is cancelled before anything is queued: no task of it
		// takes a step with a live context once the failure is known.
		f = sc.ancestor(d.per[sc.si].failAt)
		if f != sc {
			f.stop(&tasks.TaskError{Task: name, Err: err})
		}
	}
	m.enqueue(item{op: opTaskFailed, si: int32(sc.si), epoch: sc.epoch, task: name, payload: err})
	if f != nil {
		m.enqueue(item{ev: int32(fail), fail: true, si: int32(f.si), epoch: f.epoch, payload: err})
	}
	m.kick()
}

// emit enqueues an event from the task name of sc. An event the definition
// does not know is a bug in the task: it fails as if it had returned an
// error matching ErrUnknownEvent, so its siblings stop and the failure is
// reported rather than lost.
func (m *Machine[S, E]) emit(sc *scope, name string, e E, payload any) {
	d := m.def
	ei, ok := d.eventIndex(e)
	if !ok {
		dispose(payload)
		err := fmt.Errorf("%w: task %q emitted %v", ErrUnknownEvent, name, e)
		if sc.g.Context().Err() == nil { // a late emit of a cancelled task is no failure
			sc.g.Cancel(&tasks.TaskError{Task: name, Err: err})
			m.taskFailed(sc, name, err)
		}
		return
	}
	// An event that surely leaves a state cancels that state's tasks, and
	// its descendants', before it is queued, so none of them takes another
	// step with a live context after it.
	if c := d.emitExit[sc.si*len(d.events)+ei]; c >= 0 {
		if a := sc.ancestor(int(c)); a != nil {
			a.stop(d.emitCause[sc.si*len(d.events)+ei])
		}
	}
	m.enqueue(item{ev: int32(ei), si: int32(sc.si), epoch: sc.epoch, payload: payload})
	m.kick()
}

// reportStragglers reports the tasks of sc that the join left running, and
// reports each again, with what it returned, once it has.
func (m *Machine[S, E]) reportStragglers(sc *scope, join tasks.Report) {
	// Called only when the join left tasks running.
	if m.obs == nil && m.cold.flight == nil {
		return
	}
	d := m.def
	left := false
	for _, r := range join.Tasks {
		if !r.Straggler {
			continue
		}
		left = true
		s := d.states[sc.si]
		rec := Record[S, E]{Kind: RecordStraggler, From: s, To: s, State: s,
			Epoch: sc.epoch, Task: r.Name, Join: join}
		m.snapshotFlight(rec)
		if m.obs != nil {
			m.observe(rec)
		}
	}
	if !left || m.obs == nil {
		return
	}
	go func() {
		late := sc.g.Wait() // the group is stopped: this waits for the stragglers alone
		for i, r := range join.Tasks {
			if r.Straggler {
				m.enqueue(item{op: opStragglerReturned, si: int32(sc.si), epoch: sc.epoch, task: r.Name, payload: late.Tasks[i].Err})
			}
		}
		m.kick()
	}()
}

// armTimeouts starts the timers of lv's timeouts; each fires its event
// stamped with lv's entry, so a timer that fires as the state is left is
// stale. A duration function sees in, the step that entered the state.
func (m *Machine[S, E]) armTimeouts(lv *level, tos []timeoutDef[S, E], in *Transition[S, E]) {
	for _, to := range tos {
		d := to.after
		if to.fn != nil {
			m.at = where{kind: atTimeout, si: int32(lv.si)}
			d = to.fn(*in)
			m.at.kind = atMachine
		}
		it := item{ev: int32(to.event), si: int32(lv.si), epoch: lv.epoch}
		if d < 0 {
			continue
		}
		if d == 0 { // due at once: queued behind this step, which is the processor's
			m.enqueue(it)
			continue
		}
		x := lv.extra()
		x.timers = append(x.timers, time.AfterFunc(d, func() {
			if !m.stopped.Load() {
				m.enqueue(it)
				m.kick()
			}
		}))
	}
}
