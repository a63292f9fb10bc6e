package fsm

import (
	"time"

	"github.com/connfsm/connfsm/internal/enum"
)

// Builder collects a definition. Its methods record problems instead of
// failing; Build reports them all at once.
type Builder[S, E comparable] struct {
	initial  S
	states   []S
	events   []E
	children []childDecl[S]
	finals   []S
	rules    []Rule[S, E]
	hooks    []hookDecl[S, E]
	tasks    []taskDecl[S, E]
	fails    []failDecl[S, E]
	actions  []actionDecl[S, E]
	timeouts []timeoutDecl[S, E]
	parallel []childDecl[S]
	history  []historyDecl[S]
	// postponeLimit is PostponeLimit's n; postponeSet tells a declared 0
	// from the default.
	postponeLimit int
	postponeSet   bool
}

type historyDecl[S comparable] struct {
	composite S
	kind      HistoryKind
	history   S
}

// HistoryKind says what a history pseudo-state remembers.
type HistoryKind uint8

const (
	// Shallow history re-enters the child of its composite that was last
	// active, entered by default below it.
	Shallow HistoryKind = iota + 1
	// Deep history re-enters the leaves below its composite that were last
	// active.
	Deep
)

var historyKindNames = [...]string{Shallow: "shallow", Deep: "deep"}

// String returns "shallow" or "deep".
func (k HistoryKind) String() string { return enum.Name(historyKindNames[:], k, "HistoryKind(%d)") }

// DefaultPostponeLimit is the most events a machine holds postponed at once
// when the builder does not set PostponeLimit.
const DefaultPostponeLimit = 64

type childDecl[S comparable] struct {
	parent S
	kids   []S
}

type hookDecl[S, E comparable] struct {
	state S
	enter bool
	fn    Hook[S, E]
}

type taskDecl[S, E comparable] struct {
	state S
	name  string
	fn    Task[S, E]
	step  TimerTask[S, E] // instead of fn, for a timer task
}

type failDecl[S, E comparable] struct {
	state S
	event E
}

type actionDecl[S, E comparable] struct {
	from S
	on   E
	fn   Hook[S, E]
}

type timeoutDecl[S, E comparable] struct {
	state S
	after time.Duration
	fn    func(in Transition[S, E]) time.Duration
	what  string
	event E
	byFn  bool // declared with TimeoutFunc: fn is the duration, even nil
}

// NewBuilder starts a definition whose machines begin in initial (entered
// down to its initial leaf if it is composite).
func NewBuilder[S, E comparable](initial S) *Builder[S, E] {
	return &Builder[S, E]{initial: initial}
}

// States declares the states, in the order diagrams show them.
func (b *Builder[S, E]) States(states ...S) *Builder[S, E] {
	b.states = append(b.states, states...)
	return b
}

// Events declares the events, in the order the matrix shows them.
func (b *Builder[S, E]) Events(events ...E) *Builder[S, E] {
	b.events = append(b.events, events...)
	return b
}

// Children makes children substates of parent, which becomes a composite
// state: while one of them is active, parent is active too. The first child
// is parent's initial child, entered when a transition targets parent.
// Every state has at most one parent; the states without one are the
// top-level states.
func (b *Builder[S, E]) Children(parent S, children ...S) *Builder[S, E] {
	b.children = append(b.children, childDecl[S]{parent: parent, kids: append([]S(nil), children...)})
	return b
}

// Parallel makes regions the regions of parent, a parallel state: while
// parent is active, every region is active at once, each with its own
// active leaf. Each region must be a composite state (have Children).
// Entering parent enters every region in declaration order, each fully
// down to its leaf before the next; leaving it exits them in reverse
// declaration order.
func (b *Builder[S, E]) Parallel(parent S, regions ...S) *Builder[S, E] {
	b.parallel = append(b.parallel, childDecl[S]{parent: parent, kids: append([]S(nil), regions...)})
	return b
}

// History declares history, a pseudo-state of composite that a transition
// may target (To, Internal, Choice) to re-enter what composite last left:
// with Shallow, the child last active, entered by default below it; with
// Deep, the leaves last active. If composite was never left, its initial
// configuration is entered. history is a value of S not listed in States:
// it has no rules, hooks or tasks, and the machine is never in it.
func (b *Builder[S, E]) History(composite S, kind HistoryKind, history S) *Builder[S, E] {
	b.history = append(b.history, historyDecl[S]{composite: composite, kind: kind, history: history})
	return b
}

// PostponeLimit sets the most events a machine holds postponed at once
// (see Postpone); an event postponed beyond it is rejected. The default is
// DefaultPostponeLimit.
func (b *Builder[S, E]) PostponeLimit(n int) *Builder[S, E] {
	b.postponeLimit, b.postponeSet = n, true
	return b
}

// Final declares leaf states that stop the machine when entered: their
// enter hooks run, then the machine stops as if Stop had been called, so no
// hook has to call Stop. A final state has no tasks, no children and no
// rules of its own: no event is ever processed in it.
func (b *Builder[S, E]) Final(states ...S) *Builder[S, E] {
	b.finals = append(b.finals, states...)
	return b
}

// Rules declares cells of the transition table. For every leaf and every
// event exactly one rule must apply: the leaf's own, or else the nearest
// ancestor's. A state may not declare two rules for one event.
func (b *Builder[S, E]) Rules(rules ...Rule[S, E]) *Builder[S, E] {
	b.rules = append(b.rules, rules...)
	return b
}

// OnEnter adds a hook run when state is entered, after the machine's
// configuration is set and before the state's tasks start (and so before
// its children are entered). Enter hooks run in declaration order.
func (b *Builder[S, E]) OnEnter(state S, fn Hook[S, E]) *Builder[S, E] {
	b.hooks = append(b.hooks, hookDecl[S, E]{state: state, enter: true, fn: fn})
	return b
}

// OnExit adds a hook run when state is left, after the tasks of every
// state being left have been joined and the exit hooks of its descendants
// have run. Exit hooks run in reverse declaration order.
func (b *Builder[S, E]) OnExit(state S, fn Hook[S, E]) *Builder[S, E] {
	b.hooks = append(b.hooks, hookDecl[S, E]{state: state, fn: fn})
	return b
}

// Task adds a named task to state. It runs while state is active, whichever
// of its descendants is the leaf. Tasks start in declaration order.
func (b *Builder[S, E]) Task(state S, name string, fn Task[S, E]) *Builder[S, E] {
	b.tasks = append(b.tasks, taskDecl[S, E]{state: state, name: name, fn: fn})
	return b
}

// TimerTask adds to state a named task that runs as the steps of a timer
// (tasks.GoTimer) rather than as a goroutine: fn is called when state is
// entered, again each time the timer it re-arms (t.Reset) fires or is
// woken (t.Wake), and once more, with ctx done, when state is left. In
// between, the task holds no goroutine: a task that mostly waits (a
// heartbeat) costs a timer, not a parked goroutine. It is a task of state
// all the same: it starts in declaration order with the others, a step
// that returns an error fails it as a task's return would, and leaving
// state joins it, so no step runs once the next state is entered (a step
// still running at the join's deadline is a straggler). Its steps are not
// traced as regions.
func (b *Builder[S, E]) TimerTask(state S, name string, fn TimerTask[S, E]) *Builder[S, E] {
	b.tasks = append(b.tasks, taskDecl[S, E]{state: state, name: name, step: fn})
	return b
}

// FailureEvent declares the event fired, with the error as payload, when a
// task of state or of one of its descendants without a failure event of
// its own fails. state is the failure's scope: the tasks of state and of
// all its descendants are cancelled at once, before the event is
// processed. Without a failure event anywhere up the tree, a failing task
// cancels its siblings only and is reported; the machine stays where it is.
func (b *Builder[S, E]) FailureEvent(state S, event E) *Builder[S, E] {
	b.fails = append(b.fails, failDecl[S, E]{state: state, event: event})
	return b
}

// Action sets the action of the transition declared for (from, on). It runs
// after the exit hooks and before the configuration changes.
func (b *Builder[S, E]) Action(from S, on E, fn Hook[S, E]) *Builder[S, E] {
	b.actions = append(b.actions, actionDecl[S, E]{from: from, on: on, fn: fn})
	return b
}

// Timeout fires event once state has been active for d, as gen_statem's
// state_timeout does: leaving state first cancels it, and a timeout of an
// entry that is over is stale. A timeout is a timer, not a task: no
// goroutine waits for it. The event is resolved like any other, from the
// leaf active when it fires.
func (b *Builder[S, E]) Timeout(state S, d time.Duration, event E) *Builder[S, E] {
	b.timeouts = append(b.timeouts, timeoutDecl[S, E]{state: state, after: d, event: event})
	return b
}

// TimeoutFunc is Timeout with a duration computed on every entry into
// state, after its enter hooks, from the machine's environment
// (Config.Env); what names the duration in diagrams ("the close
// timeout"). A result of zero fires the event at once (queued behind the
// step that entered the state); a negative result arms nothing for that
// entry.
func (b *Builder[S, E]) TimeoutFunc(state S, what string, d func(in Transition[S, E]) time.Duration, event E) *Builder[S, E] {
	b.timeouts = append(b.timeouts, timeoutDecl[S, E]{state: state, fn: d, what: what, event: event, byFn: true})
	return b
}

// MustBuild is Build for a definition that is a constant of its package,
// as regexp.MustCompile is for a constant pattern: it panics with the
// *BuildError instead of returning it. Use Build for a definition made
// from input.
func (b *Builder[S, E]) MustBuild() *Definition[S, E] {
	d, err := b.Build()
	if err != nil {
		panic(err)
	}
	return d
}
