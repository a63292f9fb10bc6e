package fsm

import (
	"context"
	"fmt"
	"runtime/trace"
	"strings"
	"time"

	"github.com/connfsm/connfsm/internal/enum"
	"github.com/connfsm/connfsm/tasks"
)

// RecordKind says what a Record reports.
type RecordKind uint8

const (
	// RecordStarted: the machine entered its initial state, To (and From,
	// the same leaf); Epoch is the initial leaf's entry (1 for a machine
	// without children). No event caused it: Event is the zero value,
	// which may be a real event of the enum and means nothing here.
	RecordStarted RecordKind = iota + 1
	// RecordTransition: the machine moved From → To on Event; Epoch is the
	// new entry's and Join is the join of From's tasks.
	RecordTransition
	// RecordIgnored: Event was dropped in From as declared; Reason says why.
	RecordIgnored
	// RecordRejected: Event was refused in From; Err is the *RejectedError.
	RecordRejected
	// RecordStale: Event came from a task of an entry (Epoch) that is over.
	RecordStale
	// RecordStraggler: Task of From's entry Epoch had not returned when the
	// join deadline passed; the machine moved on without it.
	RecordStraggler
	// RecordTaskFailed: Task of the entry Epoch returned Err (or panicked)
	// while its context was live; its siblings were cancelled.
	RecordTaskFailed
	// RecordDropped: Event arrived after the machine stopped.
	RecordDropped
	// RecordStopped: the machine stopped in From; Join is its tasks' join.
	RecordStopped
	// RecordStragglerReturned: Task of From's entry Epoch, reported as a
	// straggler, has returned at last; Err is what it returned (a
	// *tasks.PanicError if it panicked), or nil. It may come after
	// RecordStopped.
	RecordStragglerReturned
	// RecordPostponed: Event was postponed in From (see Postpone): it is
	// kept and offered again after the next change of the active
	// configuration; State is the state whose rule postponed it.
	RecordPostponed

	// RecordOwner is the first of the kinds an owner defines for records
	// of its own that it reports beside its machine's (wsconn reports
	// each subscription's steps so). The engine never makes them; such a
	// record's Payload says what happened, and String prints it when it is
	// a fmt.Stringer.
	RecordOwner RecordKind = 64
)

var recordKindNames = [...]string{
	RecordStarted:    "started",
	RecordTransition: "transition",
	RecordIgnored:    "ignored",
	RecordRejected:   "rejected",
	RecordStale:      "stale",
	RecordStraggler:  "straggler",
	RecordTaskFailed: "task_failed",
	RecordDropped:    "dropped",
	RecordStopped:    "stopped",

	RecordStragglerReturned: "straggler_returned",
	RecordPostponed:         "postponed",
}

// String returns the kind's name as used in logs and JSON, e.g. "transition".
func (k RecordKind) String() string { return enum.Name(recordKindNames[:], k, "RecordKind(%d)") }

// Record is one step reported to the observer. From is the leaf the
// machine was in (for a straggler or a failed task, the task's state); To
// equals From except for transitions, where it is the leaf entered. With
// parallel regions From and To are the first active leaves (State) before
// and after the step, and Moves says what each region did.
type Record[S, E comparable] struct {
	Kind RecordKind
	When time.Time
	From S
	// Event is the event the record is about. Started, straggler,
	// task_failed, straggler_returned and stopped records have none: it is
	// the zero value, meaningless (and left out by String).
	Event  E
	To     S
	Epoch  uint64 // a transition's entry into To; for ignored, rejected, started, stopped, the leaf's
	Reason string
	Task   string
	// State is the state a straggler, a failed task or a stale event
	// belongs to, or whose rule ignored or rejected the event: the leaf or
	// one of its ancestors. Otherwise it is From.
	State S
	Err   error
	// Payload is the event's payload: for a transition, what its hooks
	// received; for an ignored, rejected, stale or dropped event, the value
	// that was disposed. Observers must not retain it beyond the call.
	Payload any
	// Join is the join of the tasks of every state exited, innermost
	// first: for a flat machine, the one state left.
	Join tasks.Report
	// Exited lists, for a transition or a stop, every state exited,
	// innermost first, each with the join of its own tasks; Entered lists,
	// for a transition or the start, every state entered, outermost first.
	// For a flat machine they hold From and To. Without parallel regions,
	// Entered's states get consecutive epochs, the last being Epoch: the
	// i-th of n entered has Epoch-(n-1-i). Entered is shared: do not
	// modify it.
	Exited  []Level[S]
	Entered []S
	// Moves lists, for a transition, every transition the step took, in
	// document order of the leaves they were taken from: one for a machine
	// without parallel regions (From → To), one per region that moved
	// otherwise, so that a metric counts transitions per region. Shared:
	// do not modify it.
	Moves []Move[S]
}

// Move is what one transition of a step did: the leaf it was taken from
// and the first leaf (in document order) it entered. A step in a machine
// with parallel regions may take one transition per region.
type Move[S comparable] struct {
	From, To S
}

// Level is one state exited by a step, with the join of its own tasks.
type Level[S comparable] struct {
	State S
	Join  tasks.Report
}

// What follows shows the lifecycle in `go tool trace`: while the execution
// tracer runs, every state entry is a trace task (nested in its parent's
// entry) and every state-scoped task runs in a region of its state's
// trace task. With tracing off it costs one check per state entry.

func traceOn() bool { return trace.IsEnabled() }

// traceEnter opens the trace task of the entry m.path[i].
func (m *Machine[S, E]) traceEnter(i int) {
	lv := &m.path[i]
	parent := m.inner()
	for j := i - 1; j >= 0; j-- { // the nearest ancestor's (with regions, not a sibling's)
		if p := m.path[j]; m.def.ancestorOrSelf(int(p.si), int(lv.si)) {
			if p.ext != nil && p.ext.tctx != nil {
				parent = p.ext.tctx
			}
			break
		}
	}
	x := lv.extra()
	x.tctx, x.trace = trace.NewTask(parent, m.def.stateNames[lv.si])
}

// traceRegion wraps a task of lv so that it runs in a region named
// "State/task" of lv's trace task.
func (m *Machine[S, E]) traceRegion(lv *level, name string, run func(context.Context) error) func(context.Context) error {
	tctx, region := lv.ext.tctx, m.def.stateNames[lv.si]+"/"+name
	return func(ctx context.Context) (err error) {
		trace.WithRegion(tctx, region, func() { err = run(ctx) })
		return err
	}
}

// snapshotFlight writes the flight recorder's window for a straggler, if
// the machine has a running recorder and Snapshot gives a destination.
func (m *Machine[S, E]) snapshotFlight(r Record[S, E]) {
	if m.cold.flight == nil || m.cold.snapshot == nil || !m.cold.flight.Enabled() {
		return
	}
	w := m.cold.snapshot(r)
	if w == nil {
		return
	}
	_, _ = m.cold.flight.WriteTo(w)
	_ = w.Close()
}

// pather is a state that names itself with its ancestors, e.g.
// "Alive/Syncing": a record prints states by their Path when they have one.
type pather interface{ Path() string }

func name[T any](v T) string {
	if p, ok := any(v).(pather); ok {
		return p.Path()
	}
	return fmt.Sprint(v)
}

// String returns the record as one readable line, as the connfsm command's
// timeline prints it:
//
//	started in Connecting
//	Connecting --Connected--> Alive/Syncing (epoch 3)
//	ignored Lost in Reconnecting: a second loss from another task
//	rejected Send in Closed: closed for good
//	stale Lost of Alive (epoch 2) in Reconnecting
//	postponed Send in Alive/Syncing
//	straggler reader of Alive (epoch 2) did not return in time
//	task reader of Alive (epoch 2) failed: read: EOF
//	dropped Lost: machine stopped
//	stopped in Closed
//	straggler reader of Alive (epoch 2) returned: read: EOF
//
// States print as their Path method returns, if they have one (names with
// their ancestors'), else as fmt.Sprint does. A record whose kind carries
// no event (started, stopped, straggler, task failure) prints none: its
// Event field means nothing.
func (r Record[S, E]) String() string {
	var b strings.Builder
	switch r.Kind {
	case RecordStarted:
		fmt.Fprintf(&b, "started in %s", name(r.To))
	case RecordTransition:
		fmt.Fprintf(&b, "%s --%v--> %s (epoch %d)", name(r.From), r.Event, name(r.To), r.Epoch)
	case RecordIgnored, RecordRejected, RecordPostponed:
		fmt.Fprintf(&b, "%s %v in %s", r.Kind, r.Event, name(r.From))
		if r.Reason != "" {
			b.WriteString(": " + r.Reason)
		} else if r.Err != nil {
			b.WriteString(": " + r.Err.Error())
		}
	case RecordStale:
		fmt.Fprintf(&b, "stale %v of %s (epoch %d) in %s", r.Event, name(r.State), r.Epoch, name(r.From))
	case RecordStraggler:
		fmt.Fprintf(&b, "straggler %s of %s (epoch %d) did not return in time", r.Task, name(r.State), r.Epoch)
	case RecordTaskFailed:
		fmt.Fprintf(&b, "task %s of %s (epoch %d) failed: %v", r.Task, name(r.State), r.Epoch, r.Err)
	case RecordDropped:
		fmt.Fprintf(&b, "dropped %v: %v", r.Event, r.Err)
	case RecordStopped:
		fmt.Fprintf(&b, "stopped in %s", name(r.From))
		if r.Err != nil {
			b.WriteString(": " + r.Err.Error())
		}
	case RecordStragglerReturned:
		fmt.Fprintf(&b, "straggler %s of %s (epoch %d) returned", r.Task, name(r.State), r.Epoch)
		if r.Err != nil {
			b.WriteString(": " + r.Err.Error())
		}
	default:
		if p, ok := r.Payload.(fmt.Stringer); ok && r.Kind >= RecordOwner {
			return p.String()
		}
		fmt.Fprintf(&b, "%v in %s", r.Kind, name(r.From))
	}
	return b.String()
}
