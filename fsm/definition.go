package fsm

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Kind says what a declared (state, event) pair does.
type Kind uint8

const (
	// KindTransition leaves the state for the outcome's target.
	KindTransition Kind = iota + 1
	// KindIgnore drops the event: it is stale or harmless in this state.
	KindIgnore
	// KindReject drops the event and reports an error: it cannot happen in
	// this state unless there is a bug.
	KindReject

	kindInvalid Kind = 255 // a rule with a reported problem; never in a built Definition
)

// String returns "transition", "ignore" or "reject".
func (k Kind) String() string {
	switch k {
	case KindTransition:
		return "transition"
	case KindIgnore:
		return "ignore"
	case KindReject:
		return "reject"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Outcome is what a (state, event) pair does: made with To, Ignore or Reject.
type Outcome[S comparable] struct {
	Kind Kind
	To   S // the target state; the zero value unless Kind is KindTransition
}

// To returns the outcome "transition to target".
func To[S comparable](target S) Outcome[S] { return Outcome[S]{Kind: KindTransition, To: target} }

// Ignore returns the outcome "drop the event, it is expected and harmless".
func Ignore[S comparable]() Outcome[S] { return Outcome[S]{Kind: KindIgnore} }

// Reject returns the outcome "drop the event and report an error".
func Reject[S comparable]() Outcome[S] { return Outcome[S]{Kind: KindReject} }

// Rule declares one cell of the transition table. Reason says why the cell
// is what it is; it is required for Ignore and Reject and shown in the
// transition matrix.
type Rule[S, E comparable] struct {
	From   S
	On     E
	Then   Outcome[S]
	Reason string
}

// Transition is what hooks and actions receive: the step being taken.
type Transition[S, E comparable] struct {
	From  S
	Event E
	To    S
	// Payload is the value fired with the event (a connection, an error).
	// Hooks and actions of a transition own it: it is not disposed.
	Payload any
	// Epoch is the epoch of the entry into To (exit hooks and actions see
	// the epoch being left).
	Epoch uint64
	// Stopping is true for the exit hooks run by Stop; Event and To are
	// then zero values.
	Stopping bool
}

// Hook is an enter hook, an exit hook or a transition action. ctx is the
// machine's context: calls into the machine made with it (Fire, Stop) are
// recognised as coming from inside and never wait for the step in progress.
type Hook[S, E comparable] func(ctx context.Context, t Transition[S, E])

// Emit hands an event, with an optional payload, from a task to its machine.
// It only enqueues: it never blocks and never runs a transition itself. The
// event carries the epoch of the task's state entry and is dropped as stale
// if that entry is over when it is processed.
type Emit[E comparable] func(event E, payload any)

// Task is the body of a state-scoped task: started when the state is
// entered, its ctx is cancelled when the state is left (or a sibling fails),
// and the machine waits for it to return before the next state is entered.
// A non-nil error returned while ctx is live cancels the siblings at once and
// fires the state's failure event, if one is declared, with the error as the
// payload.
type Task[E comparable] func(ctx context.Context, emit Emit[E]) error

// Disposer is implemented by payloads that own a resource. The machine
// calls Dispose exactly once on a payload whose event is not consumed by a
// transition: stale, ignored, rejected, fired after Stop, or still queued
// when the machine stops.
type Disposer interface{ Dispose() }

// Builder collects a definition. Its methods record problems instead of
// failing; Build reports them all at once.
type Builder[S, E comparable] struct {
	initial S
	states  []S
	events  []E
	rules   []Rule[S, E]
	hooks   []hookDecl[S, E]
	tasks   []taskDecl[S, E]
	fails   []failDecl[S, E]
	actions []actionDecl[S, E]
}

type hookDecl[S, E comparable] struct {
	state S
	enter bool
	fn    Hook[S, E]
}

type taskDecl[S, E comparable] struct {
	state S
	name  string
	fn    Task[E]
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

// NewBuilder starts a definition whose machines begin in initial.
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

// Rules declares cells of the transition table. Every (state, event) pair
// must be declared exactly once.
func (b *Builder[S, E]) Rules(rules ...Rule[S, E]) *Builder[S, E] {
	b.rules = append(b.rules, rules...)
	return b
}

// OnEnter adds a hook run when state is entered, after the state is set and
// before its tasks start. Enter hooks run in declaration order.
func (b *Builder[S, E]) OnEnter(state S, fn Hook[S, E]) *Builder[S, E] {
	b.hooks = append(b.hooks, hookDecl[S, E]{state: state, enter: true, fn: fn})
	return b
}

// OnExit adds a hook run when state is left, after its tasks have been
// joined. Exit hooks run in reverse declaration order.
func (b *Builder[S, E]) OnExit(state S, fn Hook[S, E]) *Builder[S, E] {
	b.hooks = append(b.hooks, hookDecl[S, E]{state: state, fn: fn})
	return b
}

// Task adds a named task to state. Tasks start in declaration order.
func (b *Builder[S, E]) Task(state S, name string, fn Task[E]) *Builder[S, E] {
	b.tasks = append(b.tasks, taskDecl[S, E]{state: state, name: name, fn: fn})
	return b
}

// FailureEvent declares the event fired, with the error as payload, when a
// task of state fails. Without one, a failing task cancels its siblings and
// is reported in the exit's join report, and the machine stays in state.
func (b *Builder[S, E]) FailureEvent(state S, event E) *Builder[S, E] {
	b.fails = append(b.fails, failDecl[S, E]{state: state, event: event})
	return b
}

// Action sets the action of the transition declared for (from, on). It runs
// after the exit hooks and before the state changes.
func (b *Builder[S, E]) Action(from S, on E, fn Hook[S, E]) *Builder[S, E] {
	b.actions = append(b.actions, actionDecl[S, E]{from: from, on: on, fn: fn})
	return b
}

// Definition is a validated, immutable state machine definition. Machines
// are started from it with Start; it is safe for concurrent use.
type Definition[S, E comparable] struct {
	initial    int
	states     []S
	events     []E
	stateNames []string
	eventNames []string
	stateIdx   map[S]int
	eventIdx   map[E]int
	cells      []cell[S, E] // len(states) * len(events), row-major by state
	per        []stateDef[S, E]
}

type cell[S, E comparable] struct {
	kind     Kind
	to       int
	reason   string
	action   Hook[S, E]
	leaves   error // the cancellation cause of the source state's tasks
	rejected *RejectedError
}

type stateDef[S, E comparable] struct {
	enter []Hook[S, E]
	exit  []Hook[S, E] // already in run order (reverse of declaration)
	tasks []taskDef[E]
	fail  int // event index fired when a task fails; -1 for none
}

type taskDef[E comparable] struct {
	name string
	fn   Task[E]
}

// BuildError lists every problem found in a definition.
type BuildError struct {
	Problems []string
}

// Error lists every problem, one per line.
func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fsm: invalid definition (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteByte('s')
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p)
	}
	return b.String()
}

// Build validates the definition and returns it, or a *BuildError listing
// every problem by name: undeclared or duplicate pairs, unknown states or
// events, states unreachable from the initial state, missing reasons, and
// hooks, tasks or actions that refer to what does not exist.
func (b *Builder[S, E]) Build() (*Definition[S, E], error) {
	d := &Definition[S, E]{
		stateIdx: make(map[S]int, len(b.states)),
		eventIdx: make(map[E]int, len(b.events)),
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if len(b.states) == 0 {
		add("no states declared")
	}
	if len(b.events) == 0 {
		add("no events declared")
	}
	seenName := map[string]bool{}
	// A duplicate is reported once and otherwise ignored, so that it does
	// not also show up as undeclared pairs and an unreachable state.
	for _, s := range b.states {
		name := fmt.Sprint(s)
		if _, dup := d.stateIdx[s]; dup {
			add("state %s declared twice", name)
			continue
		}
		if seenName[name] {
			add("two states are named %s", name)
		}
		seenName[name] = true
		d.stateIdx[s] = len(d.states)
		d.states = append(d.states, s)
		d.stateNames = append(d.stateNames, name)
	}
	seenName = map[string]bool{}
	for _, e := range b.events {
		name := fmt.Sprint(e)
		if _, dup := d.eventIdx[e]; dup {
			add("event %s declared twice", name)
			continue
		}
		if seenName[name] {
			add("two events are named %s", name)
		}
		seenName[name] = true
		d.eventIdx[e] = len(d.events)
		d.events = append(d.events, e)
		d.eventNames = append(d.eventNames, name)
	}
	init, ok := d.stateIdx[b.initial]
	if !ok && len(d.states) > 0 {
		add("initial state %v is not declared", b.initial)
	}
	d.initial = init

	nE := len(d.events)
	d.cells = make([]cell[S, E], len(d.states)*nE)
	for _, r := range b.rules {
		si, okS := d.stateIdx[r.From]
		ei, okE := d.eventIdx[r.On]
		if !okS {
			add("rule %v × %v: unknown state %v", r.From, r.On, r.From)
		}
		if !okE {
			add("rule %v × %v: unknown event %v", r.From, r.On, r.On)
		}
		to, valid := -1, true
		switch r.Then.Kind {
		case KindTransition:
			if to, valid = d.stateIdx[r.Then.To]; !valid {
				add("rule %v × %v: unknown target state %v", r.From, r.On, r.Then.To)
			}
		case KindIgnore, KindReject:
			if strings.TrimSpace(r.Reason) == "" {
				add("rule %v × %v: %v needs a reason", r.From, r.On, r.Then.Kind)
			}
		default:
			add("rule %v × %v: no outcome (use To, Ignore or Reject)", r.From, r.On)
			valid = false
		}
		if !okS || !okE {
			continue
		}
		c := &d.cells[si*nE+ei]
		if c.kind != 0 {
			add("rule %v × %v declared twice", r.From, r.On)
			continue
		}
		if !valid {
			// Declared, if wrongly: reported above, not again as undeclared.
			c.kind = kindInvalid
			continue
		}
		c.kind, c.to, c.reason = r.Then.Kind, to, r.Reason
		switch c.kind {
		case KindTransition:
			c.leaves = &ExitError{State: d.stateNames[si], Event: d.eventNames[ei]}
		case KindReject:
			c.rejected = &RejectedError{State: d.stateNames[si], Event: d.eventNames[ei], Reason: r.Reason}
		}
	}
	for si := range d.states {
		for ei := range d.events {
			if d.cells[si*nE+ei].kind == 0 {
				add("undeclared: %s × %s", d.stateNames[si], d.eventNames[ei])
			}
		}
	}

	d.per = make([]stateDef[S, E], len(d.states))
	for i := range d.per {
		d.per[i].fail = -1
	}
	for _, h := range b.hooks {
		si, ok := d.stateIdx[h.state]
		kind := "exit"
		if h.enter {
			kind = "enter"
		}
		switch {
		case !ok:
			add("%s hook for unknown state %v", kind, h.state)
		case h.fn == nil:
			add("%s hook for %v is nil", kind, h.state)
		case h.enter:
			d.per[si].enter = append(d.per[si].enter, h.fn)
		default:
			d.per[si].exit = append([]Hook[S, E]{h.fn}, d.per[si].exit...)
		}
	}
	for _, t := range b.tasks {
		si, ok := d.stateIdx[t.state]
		switch {
		case !ok:
			add("task %q for unknown state %v", t.name, t.state)
		case t.name == "":
			add("task of %v has no name", t.state)
		case t.fn == nil:
			add("task %q of %v is nil", t.name, t.state)
		default:
			for _, other := range d.per[si].tasks {
				if other.name == t.name {
					add("task %q of %v declared twice", t.name, t.state)
				}
			}
			d.per[si].tasks = append(d.per[si].tasks, taskDef[E]{name: t.name, fn: t.fn})
		}
	}
	for _, f := range b.fails {
		si, okS := d.stateIdx[f.state]
		ei, okE := d.eventIdx[f.event]
		switch {
		case !okS:
			add("failure event for unknown state %v", f.state)
		case !okE:
			add("failure event of %v: unknown event %v", f.state, f.event)
		case d.per[si].fail >= 0:
			add("failure event of %v declared twice", f.state)
		default:
			d.per[si].fail = ei
		}
	}
	for _, a := range b.actions {
		si, okS := d.stateIdx[a.from]
		ei, okE := d.eventIdx[a.on]
		switch {
		case !okS || !okE:
			add("action for %v × %v: unknown state or event", a.from, a.on)
		case a.fn == nil:
			add("action for %v × %v is nil", a.from, a.on)
		case d.cells[si*nE+ei].kind != KindTransition:
			add("action for %v × %v: the pair is not a transition", a.from, a.on)
		case d.cells[si*nE+ei].action != nil:
			add("action for %v × %v declared twice", a.from, a.on)
		default:
			d.cells[si*nE+ei].action = a.fn
		}
	}

	if ok {
		for _, si := range d.unreachable() {
			add("state %s is unreachable from %s", d.stateNames[si], d.stateNames[d.initial])
		}
	}
	if len(problems) > 0 {
		return nil, &BuildError{Problems: problems}
	}
	return d, nil
}

// unreachable returns the states no sequence of declared transitions leads
// to from the initial state.
func (d *Definition[S, E]) unreachable() []int {
	nE := len(d.events)
	seen := make([]bool, len(d.states))
	seen[d.initial] = true
	work := []int{d.initial}
	for len(work) > 0 {
		s := work[len(work)-1]
		work = work[:len(work)-1]
		for ei := 0; ei < nE; ei++ {
			c := d.cells[s*nE+ei]
			if c.kind == KindTransition && !seen[c.to] {
				seen[c.to] = true
				work = append(work, c.to)
			}
		}
	}
	var out []int
	for i, ok := range seen {
		if !ok {
			out = append(out, i)
		}
	}
	return out
}

// Initial returns the state machines start in.
func (d *Definition[S, E]) Initial() S { return d.states[d.initial] }

// States returns the declared states in declaration order.
func (d *Definition[S, E]) States() []S { return append([]S(nil), d.states...) }

// Events returns the declared events in declaration order.
func (d *Definition[S, E]) Events() []E { return append([]E(nil), d.events...) }

// Cell describes the declared outcome of a (state, event) pair.
type Cell[S comparable] struct {
	Outcome[S]
	Reason    string
	HasAction bool
}

// Cell returns the declared outcome of (from, on); ok is false if either is
// not part of the definition.
func (d *Definition[S, E]) Cell(from S, on E) (c Cell[S], ok bool) {
	si, okS := d.stateIdx[from]
	ei, okE := d.eventIdx[on]
	if !okS || !okE {
		return Cell[S]{}, false
	}
	x := d.cells[si*len(d.events)+ei]
	c = Cell[S]{Outcome: Outcome[S]{Kind: x.kind}, Reason: x.reason, HasAction: x.action != nil}
	if x.kind == KindTransition {
		c.To = d.states[x.to]
	}
	return c, true
}

// Tasks returns the names of state's tasks in start order.
func (d *Definition[S, E]) Tasks(state S) []string {
	si, ok := d.stateIdx[state]
	if !ok {
		return nil
	}
	var names []string
	for _, t := range d.per[si].tasks {
		names = append(names, t.name)
	}
	return names
}

// FailureEvent returns the event fired when a task of state fails, if one is
// declared.
func (d *Definition[S, E]) FailureEvent(state S) (e E, ok bool) {
	si, okS := d.stateIdx[state]
	if !okS || d.per[si].fail < 0 {
		return e, false
	}
	return d.events[d.per[si].fail], true
}

// ExitError is the cancellation cause a state's tasks see when the state is
// left: context.Cause(ctx) returns it. It matches ErrStateExited.
type ExitError struct {
	State string // the state left
	Event string // the event that caused it; empty when the machine stopped
}

// Error names the state left and the event that left it.
func (e *ExitError) Error() string {
	if e.Event == "" {
		return fmt.Sprintf("fsm: state %s exited: machine stopped", e.State)
	}
	return fmt.Sprintf("fsm: state %s exited on %s", e.State, e.Event)
}

// Is reports whether target is ErrStateExited.
func (e *ExitError) Is(target error) bool { return target == ErrStateExited }

// RejectedError is returned by Fire, and passed to the observer, for an event
// whose pair is declared with Reject.
type RejectedError struct {
	State, Event, Reason string
}

// Error names the event, the state and the reason for the rejection.
func (e *RejectedError) Error() string {
	return fmt.Sprintf("fsm: event %s rejected in state %s: %s", e.Event, e.State, e.Reason)
}

// Is reports whether target is ErrRejected.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

var (
	// ErrRejected matches every *RejectedError.
	ErrRejected = errors.New("fsm: event rejected")
	// ErrStateExited matches the cause of every state's task cancellation.
	ErrStateExited = errors.New("fsm: state exited")
	// ErrStopped is returned by Fire on a stopped machine.
	ErrStopped = errors.New("fsm: machine stopped")
	// ErrUnknownEvent is matched by the error of Fire with an event the
	// definition does not list, and by the failure of a task that emits one.
	ErrUnknownEvent = errors.New("fsm: unknown event")
)
