package fsm

import (
	"time"
)

// Definition is a validated, immutable state machine definition. Machines
// are started from it with Start; it is safe for concurrent use, and one
// definition serves any number of machines.
type Definition[S, E comparable] struct {
	initial    int // as declared; may be composite
	states     []S
	events     []E
	stateNames []string
	eventNames []string
	stateIdx   map[S]int
	eventIdx   map[E]int
	tree       []node
	nested     bool // some state has children
	parallel   bool // some state is parallel: steps are worked out in config.go
	levels     int  // the deepest leaf's depth + 1
	decl       []decl[S, E]
	cells      []cell[S, E] // len(states) * len(events), row-major by state
	per        []stateDef[S, E]
	// emitExit[s*nE+e] is the outermost state that a task of s emitting e
	// is sure to leave, whichever leaf below s is active: its tasks, and
	// its descendants', are cancelled before the event is queued. -1 if
	// the event does not surely leave s.
	emitExit  []int32
	emitCause []*ExitError // the cause emitExit's state's tasks see
	start     []int32      // the states Start enters, outermost first
	// startStates is start as states, for the observer.
	startStates []S
	hooked      bool // some state has hooks or some rule an action
	// postponeLimit is the most events a machine holds postponed.
	postponeLimit int
	// cold0 is the settings of the zero Config, shared by the machines
	// started with it.
	cold0 *coldConfig[S, E]
	// hist are the history pseudo-states, in declaration order; a rule's
	// target len(states)+i is hist[i].
	hist    []histDef[S]
	histIdx map[S]int
	// remember[si] is true for a composite with a history: the machine
	// records what it leaves when it is exited.
	remember []bool
	// exitCause[si*nE+ei] is what the tasks of si see when the steps of
	// config.go exit it on ei; only for definitions with parallel states
	// or histories.
	exitCause []*ExitError
	doc       []int32 // each state's place in document order (pre-order)
	byDoc     []int32 // the states in document order
}

// histDef is a history pseudo-state.
type histDef[S comparable] struct {
	state     S
	composite int
	kind      HistoryKind
}

// node is a state's place in the hierarchy.
type node struct {
	parent   int   // -1 for a top-level state
	children []int // in declaration order; the first is the initial child
	depth    int   // 0 for a top-level state
	leaf     int   // the initial leaf below the state; itself for a leaf
	final    bool
	parallel bool // its children are regions, all active at once
	scoped   bool // the state or a descendant has tasks: its entries get a scope
}

// decl is a rule as declared at a state.
type decl[S, E comparable] struct {
	kind     Kind
	to       int   // KindTransition
	internal bool  // KindTransition made with Internal
	targets  []int // KindChoice
	choice   *ChoiceRule[S]
	reason   string
	action   Hook[S, E]
}

// cell is the rule that applies to (state, event): the state's own or the
// nearest ancestor's, with its steps worked out.
type cell[S, E comparable] struct {
	kind     Kind
	at       int // the state declaring the rule
	internal bool
	reason   string
	action   Hook[S, E]
	rejected *RejectedError
	plan     plan[S]        // KindTransition
	choice   *ChoiceRule[S] // KindChoice
	branches []plan[S]      // KindChoice: one per declared target
}

// plan is what a transition exits and enters.
type plan[S comparable] struct {
	to     int     // the declared target
	leaf   int     // the leaf entered
	exits  []exit  // innermost first, from the leaf the rule applies to
	enters []int32 // outermost first, down to leaf
	// For the observer: exits and enters as states; exited has empty
	// joins, for a step whose states have no tasks.
	exited  []Level[S]
	entered []S
	// plain: entering leaf only sets the configuration (no enter hooks,
	// tasks or timeouts, not final); hooksOnly: it only runs enter hooks.
	plain, hooksOnly bool
	// dom is the transition's domain: the state it stays inside, not
	// exited (-1 for the root).
	dom int32
	// dynamic: what is entered is worked out at the step (the target is a
	// history, or the definition has parallel states); enters is then nil.
	dynamic bool
	// moves is the step as one Move, for the record of a step without
	// regions.
	moves []Move[S]
}

type exit struct {
	si    int
	cause *ExitError // what the state's tasks see as context.Cause
}

type stateDef[S, E comparable] struct {
	enter    []Hook[S, E]
	exit     []Hook[S, E] // already in run order (reverse of declaration)
	tasks    []taskDef[S, E]
	fail     int // the event a failing task of the state fires (own or inherited); -1 for none
	failAt   int // the state declaring fail: the failure's scope
	timeouts []timeoutDef[S, E]
}

type taskDef[S, E comparable] struct {
	name string
	fn   Task[S, E]
	step TimerTask[S, E] // a timer task's, instead of fn
}

type timeoutDef[S, E comparable] struct {
	after time.Duration
	fn    func(in Transition[S, E]) time.Duration
	what  string // names fn's duration in diagrams
	event int
}

// Initial returns the state machines start in, as declared (a composite
// state is entered down to its initial leaf).
func (d *Definition[S, E]) Initial() S { return d.states[d.initial] }

// States returns the declared states in declaration order.
func (d *Definition[S, E]) States() []S { return append([]S(nil), d.states...) }

// Events returns the declared events in declaration order.
func (d *Definition[S, E]) Events() []E { return append([]E(nil), d.events...) }

// Leaves returns the states without children, in declaration order: the
// states a machine can be in. For a definition without children, it is
// States.
func (d *Definition[S, E]) Leaves() []S {
	var out []S
	for si, s := range d.states {
		if len(d.tree[si].children) == 0 {
			out = append(out, s)
		}
	}
	return out
}

// Parent returns state's parent; ok is false for a top-level state or a
// state not in the definition.
func (d *Definition[S, E]) Parent(state S) (parent S, ok bool) {
	si, found := d.stateIdx[state]
	if !found || d.tree[si].parent < 0 {
		return parent, false
	}
	return d.states[d.tree[si].parent], true
}

// Children returns state's children, the initial child first, or nil.
func (d *Definition[S, E]) Children(state S) []S {
	si, ok := d.stateIdx[state]
	if !ok {
		return nil
	}
	var out []S
	for _, c := range d.tree[si].children {
		out = append(out, d.states[c])
	}
	return out
}

// IsFinal reports whether state is declared final.
func (d *Definition[S, E]) IsFinal(state S) bool {
	si, ok := d.stateIdx[state]
	return ok && d.tree[si].final
}

// Cell describes the rule that applies to a (state, event) pair.
type Cell[S comparable] struct {
	Outcome[S]
	Reason    string
	HasAction bool
	// At is the state that declares the rule: the state asked about, or
	// the ancestor it inherits the rule from.
	At S
	// Leaf is the leaf a transition ends in: To, or To's initial leaf when
	// To is composite. When To is a history (see Builder.History), it is
	// the composite's initial leaf, where the history leads until the
	// composite has been left; with parallel regions, the first region's.
	// For a choice it is the zero value; see Leaves.
	Leaf S
	// Leaves holds, for a choice, the leaf each of Targets() ends in, in
	// the same order.
	Leaves []S
}

// Inherited reports whether the rule is declared by an ancestor of the
// state asked about.
func (c Cell[S]) Inherited(state S) bool { return c.At != state }

// Cell returns the rule that applies to (state, on): state's own rule for
// the event, or else its nearest ancestor's. ok is false if either is not
// part of the definition, or no rule applies (a final state, or a
// composite state that leaves the event to its children).
func (d *Definition[S, E]) Cell(state S, on E) (c Cell[S], ok bool) {
	si, okS := d.stateIdx[state]
	ei, okE := d.eventIdx[on]
	if !okS || !okE {
		return Cell[S]{}, false
	}
	x := &d.cells[si*len(d.events)+ei]
	if x.kind == 0 {
		return Cell[S]{}, false
	}
	c = Cell[S]{Outcome: Outcome[S]{Kind: x.kind}, Reason: x.reason, HasAction: x.action != nil, At: d.states[x.at]}
	switch x.kind {
	case KindTransition:
		c.To, c.Leaf = d.target(x.plan.to), d.states[x.plan.leaf]
		c.Internal = x.internal
	case KindChoice:
		c.Choice = x.choice
		for _, b := range x.branches {
			c.Leaves = append(c.Leaves, d.states[b.leaf])
		}
	}
	return c, true
}

// Tasks returns the names of the tasks state itself declares, in start
// order (a parent's tasks are its own: they are not listed for its
// children).
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

// FailureEvent returns the event fired when a task of state fails: state's
// own failure event or its nearest ancestor's, if one is declared.
func (d *Definition[S, E]) FailureEvent(state S) (e E, ok bool) {
	si, okS := d.stateIdx[state]
	if !okS || d.per[si].fail < 0 {
		return e, false
	}
	return d.events[d.per[si].fail], true
}

// IsParallel reports whether state is a parallel state: its children are
// regions, all active while it is.
func (d *Definition[S, E]) IsParallel(state S) bool {
	si, ok := d.stateIdx[state]
	return ok && d.tree[si].parallel
}

// History returns the composite state h is the history of, and its kind;
// ok is false if h is not a history of the definition.
func (d *Definition[S, E]) History(h S) (composite S, kind HistoryKind, ok bool) {
	hi, found := d.histIdx[h]
	if !found {
		return composite, 0, false
	}
	return d.states[d.hist[hi].composite], d.hist[hi].kind, true
}

// Histories returns the history pseudo-states in declaration order.
func (d *Definition[S, E]) Histories() []S {
	var out []S
	for _, h := range d.hist {
		out = append(out, h.state)
	}
	return out
}

// target returns the state or history pseudo-state a rule's target index
// names.
func (d *Definition[S, E]) target(t int) S {
	if t >= len(d.states) {
		return d.hist[t-len(d.states)].state
	}
	return d.states[t]
}

// scanEvents is the number of events up to which eventIndex compares them in
// turn: for a handful of events that beats hashing the event for the map.
const scanEvents = 8

// eventIndex returns the index of event in the definition.
func (d *Definition[S, E]) eventIndex(event E) (int, bool) {
	if len(d.events) <= scanEvents {
		for i, e := range d.events {
			if e == event {
				return i, true
			}
		}
		return 0, false
	}
	i, ok := d.eventIdx[event]
	return i, ok
}

// ancestorOrSelf reports whether a is s or one of its ancestors.
func (d *Definition[S, E]) ancestorOrSelf(a, s int) bool {
	for ; s >= 0; s = d.tree[s].parent {
		if s == a {
			return true
		}
	}
	return false
}
