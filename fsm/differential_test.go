package fsm_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/connfsm/connfsm/fsm"
)

// This file checks the engine against a reference interpreter of the
// semantics in doc.go, written from the documentation alone. Definitions
// are random trees with rules declared at leaves and ancestors (inherited,
// overridden), transitions, ignores, rejections and choices (some picking
// undeclared targets), actions, enter and exit hooks (some firing events
// from inside), tasks and final leaves. Events are fired from outside with
// a payload. After the start, every event and the stop, both sides must
// agree on the active leaf, Path, In, Epoch, Done, Fire's error, every
// hook, action and choice call in order with what it was handed, every
// observer record, which tasks run and with what cause the ones of the
// states left ended. A definition Build rejects must have exactly the
// unreachable leaves the reference finds.
//
// The reference is deliberately naive: the configuration is a slice of
// states from a top-level state down to the leaf, a rule is looked up from
// the leaf upward, a transition computes its domain by walking parents, and
// events fired from inside wait in a FIFO queue.

// dState and dEvent number from 1, so that the zero value (what a stopping
// exit hook or the start record carries as its event) is no declared one.
type (
	dState int
	dEvent int
)

func (s dState) String() string { return fmt.Sprintf("S%d", int(s)) }
func (e dEvent) String() string { return fmt.Sprintf("E%d", int(e)) }

// dSpec is a generated definition, in a form both the reference and the
// builder read.
type dSpec struct {
	n       int        // states 1..n
	events  int        // events 1..events
	parent  []dState   // parent[s]; 0 for a top-level state
	kids    [][]dState // kids[s], the first being the initial child
	final   []bool
	initial dState
	rules   []dRule  // in declaration order
	hooks   []dHook  // in declaration order
	tasks   []int    // tasks[s]: how many tasks s runs
	order   []dState // the states, parents before children
	limit   int      // the postpone limit; -1 for the default
}

type dRule struct {
	From    dState
	On      dEvent
	Kind    fsm.Kind
	To      dState   // KindTransition
	Targets []dState // KindChoice
	Stray   bool     // the choice sometimes picks a target it does not declare
	Reason  string
	Action  int // the action's id; 0 for none
}

type dHook struct {
	State dState
	Enter bool
	ID    int
	Fire  dEvent // an enter hook's event, fired from inside; 0 for none
}

// dBudget bounds the events hooks fire from inside per event fired from
// outside (and at the start), so that hooks firing each other end.
const dBudget = 3

// dInside is added to a hook's id to make the payload of its event.
const dInside = 100

// pick is a choice's function, as a function of the payload: the targets in
// turn, and, for a stray choice, every so often a state it does not declare.
func (r *dRule) pick(sp *dSpec, payload int) dState {
	k := len(r.Targets)
	if r.Stray {
		k++
	}
	i := payload % k
	if i < len(r.Targets) {
		return r.Targets[i]
	}
	for s := dState(1); int(s) <= sp.n; s++ {
		if !slices.Contains(r.Targets, s) {
			return s
		}
	}
	return dState(sp.n + 1) // not a state of the definition at all
}

// String describes sp for a failure message.
func (sp *dSpec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "initial %v, events E1..E%d, postpone limit %d\n", sp.initial, sp.events, sp.limit)
	for _, s := range sp.order {
		fmt.Fprintf(&b, "%s%v", strings.Repeat("  ", len(sp.pathTo(s))), s)
		if !sp.leaf(s) {
			fmt.Fprintf(&b, " children %v", sp.kids[s])
		}
		if sp.final[s] {
			b.WriteString(" final")
		}
		if sp.tasks[s] > 0 {
			fmt.Fprintf(&b, " tasks %d", sp.tasks[s])
		}
		for _, h := range sp.hooks {
			if h.State == s {
				fmt.Fprintf(&b, " %s#%d", map[bool]string{true: "enter", false: "exit"}[h.Enter], h.ID)
				if h.Fire != 0 {
					fmt.Fprintf(&b, "(fires %v)", h.Fire)
				}
			}
		}
		b.WriteByte('\n')
		for _, r := range sp.rules {
			if r.From == s {
				fmt.Fprintf(&b, "%s  %v: %v", strings.Repeat("  ", len(sp.pathTo(s))), r.On, r.Kind)
				switch r.Kind {
				case fsm.KindTransition:
					fmt.Fprintf(&b, " %v", r.To)
				case fsm.KindChoice:
					fmt.Fprintf(&b, " %v stray=%v", r.Targets, r.Stray)
				}
				if r.Action != 0 {
					fmt.Fprintf(&b, " action#%d", r.Action)
				}
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

func (sp *dSpec) leaf(s dState) bool { return len(sp.kids[s]) == 0 }

// ancestorOf reports whether a is a proper ancestor of s; 0, the root,
// is everyone's.
func (sp *dSpec) ancestorOf(a, s dState) bool {
	for p := sp.parent[s]; ; p = sp.parent[p] {
		if p == a {
			return true
		}
		if p == 0 {
			return false
		}
	}
}

// pathTo is s and its ancestors, outermost first.
func (sp *dSpec) pathTo(s dState) []dState {
	var p []dState
	for ; s != 0; s = sp.parent[s] {
		p = append(p, s)
	}
	slices.Reverse(p)
	return p
}

// initialLeaf follows initial children down from s.
func (sp *dSpec) initialLeaf(s dState) dState {
	for !sp.leaf(s) {
		s = sp.kids[s][0]
	}
	return s
}

// own is the rule s itself declares for e.
func (sp *dSpec) own(s dState, e dEvent) *dRule {
	for i := range sp.rules {
		if sp.rules[i].From == s && sp.rules[i].On == e {
			return &sp.rules[i]
		}
	}
	return nil
}

// resolve finds the rule for e from leaf upward: the first state that
// declares one decides.
func (sp *dSpec) resolve(leaf dState, e dEvent) *dRule {
	for s := leaf; s != 0; s = sp.parent[s] {
		if r := sp.own(s, e); r != nil {
			return r
		}
	}
	return nil
}

// unreachable lists the states no sequence of events makes active, from
// the initial leaf: a final leaf takes no event, a transition lands on its
// target's initial leaf, a choice on any of its targets'.
func (sp *dSpec) unreachable() []dState {
	seen := map[dState]bool{}
	todo := []dState{sp.initialLeaf(sp.initial)}
	seen[todo[0]] = true
	for len(todo) > 0 {
		l := todo[0]
		todo = todo[1:]
		if sp.final[l] {
			continue
		}
		for e := dEvent(1); int(e) <= sp.events; e++ {
			r := sp.resolve(l, e)
			if r == nil {
				continue
			}
			var to []dState
			switch r.Kind {
			case fsm.KindTransition:
				to = []dState{r.To}
			case fsm.KindChoice:
				to = r.Targets
			}
			for _, t := range to {
				if nl := sp.initialLeaf(t); !seen[nl] {
					seen[nl] = true
					todo = append(todo, nl)
				}
			}
		}
	}
	var out []dState
	for s := dState(1); int(s) <= sp.n; s++ {
		active := false
		for l := range seen {
			active = active || l == s || sp.ancestorOf(s, l)
		}
		if !active {
			out = append(out, s)
		}
	}
	return out
}

// unresolved lists the (leaf, event) pairs no rule applies to; final leaves
// take no event and need none.
func (sp *dSpec) unresolved() [][2]string {
	var out [][2]string
	for s := dState(1); int(s) <= sp.n; s++ {
		if !sp.leaf(s) || sp.final[s] {
			continue
		}
		for e := dEvent(1); int(e) <= sp.events; e++ {
			if sp.resolve(s, e) == nil {
				out = append(out, [2]string{s.String(), e.String()})
			}
		}
	}
	return out
}

// drawSpec draws a tree of 1 to 3 levels and at most 8 states, 2 to 4
// events, a rule for every (leaf, event) pair that needs one (some declared
// at ancestors and inherited, some overridden), hooks, actions, tasks and
// final leaves.
func drawSpec(t *rapid.T) *dSpec {
	sp := &dSpec{parent: []dState{0}, kids: [][]dState{nil}}
	add := func(parent dState) dState {
		sp.n++
		s := dState(sp.n)
		sp.parent = append(sp.parent, parent)
		sp.kids = append(sp.kids, nil)
		sp.order = append(sp.order, s)
		if parent != 0 {
			sp.kids[parent] = append(sp.kids[parent], s)
		}
		return s
	}
	const maxStates = 8
	depth := rapid.SampledFrom([]int{1, 2, 2, 3, 3, 3}).Draw(t, "depth") // mostly nested
	level := make([]dState, 0, 3)
	for range rapid.IntRange(1, 3).Draw(t, "top") {
		level = append(level, add(0))
	}
	for d := 1; d < depth; d++ {
		var next []dState
		for _, p := range level {
			if sp.n >= maxStates || rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("composite %v", p)) == 0 {
				continue
			}
			k := rapid.IntRange(1, 3).Draw(t, fmt.Sprintf("children of %v", p))
			for range min(k, maxStates-sp.n) {
				next = append(next, add(p))
			}
		}
		level = next
	}
	sp.events = rapid.IntRange(2, 4).Draw(t, "events")
	sp.initial = dState(rapid.IntRange(1, sp.n).Draw(t, "initial"))
	sp.final = make([]bool, sp.n+1)
	sp.tasks = make([]int, sp.n+1)
	sp.limit = rapid.SampledFrom([]int{-1, 0, 1, 2}).Draw(t, "postpone limit")
	start := sp.initialLeaf(sp.initial)
	for _, s := range sp.order {
		if sp.leaf(s) && s != start && rapid.IntRange(0, 4).Draw(t, fmt.Sprintf("final %v", s)) == 0 {
			sp.final[s] = true
		}
	}
	actions := 0
	for _, s := range sp.order { // parents first: inherited rules are known
		if sp.final[s] {
			continue
		}
		for e := dEvent(1); int(e) <= sp.events; e++ {
			inherited := sp.parent[s] != 0 && sp.resolve(sp.parent[s], e) != nil
			switch {
			case sp.leaf(s) && !inherited: // someone must decide
			case sp.leaf(s): // override the inherited rule, sometimes
				if rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("override %v %v", s, e)) != 0 {
					continue
				}
			default: // a composite declares a rule for its leaves, sometimes
				if !rapid.Bool().Draw(t, fmt.Sprintf("declare %v %v", s, e)) {
					continue
				}
			}
			sp.rules = append(sp.rules, drawRule(t, sp, s, e, &actions))
		}
	}
	// Repair: a leaf no event reaches gets a transition from a reachable
	// leaf. Sometimes the definition is left as drawn, to check that Build
	// rejects exactly what the reference finds unreachable.
	if rapid.IntRange(0, 4).Draw(t, "repair") != 0 {
		for range 2 * maxStates {
			un := sp.unreachable()
			var lost dState
			for _, s := range un {
				if sp.leaf(s) {
					lost = s
					break
				}
			}
			if lost == 0 {
				break
			}
			var from []dState
			for s := dState(1); int(s) <= sp.n; s++ {
				if sp.leaf(s) && !sp.final[s] && !slices.Contains(un, s) {
					from = append(from, s)
				}
			}
			f := rapid.SampledFrom(from).Draw(t, "repair from")
			e := dEvent(rapid.IntRange(1, sp.events).Draw(t, "repair on"))
			r := dRule{From: f, On: e, Kind: fsm.KindTransition, To: lost}
			if own := sp.own(f, e); own != nil {
				*own = r
			} else {
				sp.rules = append(sp.rules, r)
			}
		}
	}
	hooks := 0
	for _, s := range sp.order {
		for range rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("hooks of %v", s)) {
			hooks++
			h := dHook{State: s, Enter: rapid.Bool().Draw(t, "enter"), ID: hooks}
			if h.Enter && rapid.IntRange(0, 3).Draw(t, "fires") == 0 {
				h.Fire = dEvent(rapid.IntRange(1, sp.events).Draw(t, "fire"))
			}
			sp.hooks = append(sp.hooks, h)
		}
		if !sp.final[s] {
			sp.tasks[s] = rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("tasks of %v", s))
		}
	}
	return sp
}

func drawRule(t *rapid.T, sp *dSpec, s dState, e dEvent, actions *int) dRule {
	r := dRule{From: s, On: e}
	state := rapid.Custom(func(t *rapid.T) dState { return dState(rapid.IntRange(1, sp.n).Draw(t, "state")) })
	switch k := rapid.IntRange(0, 10).Draw(t, fmt.Sprintf("kind %v %v", s, e)); {
	case k == 10:
		r.Kind = fsm.KindPostpone
		if rapid.Bool().Draw(t, "reason") {
			r.Reason = "later"
		}
	case k < 5:
		r.Kind, r.To = fsm.KindTransition, state.Draw(t, "to")
	case k < 7:
		r.Kind, r.Reason = fsm.KindIgnore, "harmless"
	case k < 8:
		r.Kind, r.Reason = fsm.KindReject, "a bug"
	default:
		r.Kind = fsm.KindChoice
		r.Targets = rapid.SliceOfNDistinct(state, 1, 3, rapid.ID).Draw(t, "targets")
		r.Stray = rapid.Bool().Draw(t, "stray")
	}
	if (r.Kind == fsm.KindTransition || r.Kind == fsm.KindChoice) && rapid.Bool().Draw(t, "action") {
		*actions++
		r.Action = *actions
	}
	return r
}

// dEntry is one line of the log both sides write: a hook, an action or a
// choice running, with what it was handed, or a record the observer got.
type dEntry struct {
	What     string // "enter", "exit", "action", "pick", "fire from inside" or "record <kind>"
	ID       int    // the hook's or action's id
	State    dState
	From, To dState
	Event    dEvent
	Epoch    uint64
	Stopping bool
	Payload  any
	Exited   []dState // records: the states exited, innermost first
	Entered  []dState // records: the states entered, outermost first
	Reason   string   // ignored and rejected records
	Err      string   // rejected records: the *RejectedError, in short; a fire from inside: its error
	Bad      string   // what was wrong with the call's context or env
}

// dEnd is a task returning: its state, and the cause of its cancellation.
type dEnd struct {
	State dState
	Cause string
}

// dObs is what is observed of the engine after each event.
type dObs struct {
	Fire    string // the class of Fire's error
	Leaf    dState
	Path    []dState
	In      []dState // the states In reports active
	Epoch   uint64
	Done    bool
	Running []int // Running[s]: tasks of s running, once every goroutine has settled
	Ends    []dEnd
}

// dRef is the reference machine.
type dRef struct {
	sp      *dSpec
	path    []dState
	epochs  []uint64 // epochs[i] is path[i]'s entry
	epoch   uint64
	stopped bool
	log     []dEntry
	ends    []dEnd
	queue   []dStep // events fired from inside, in order
	budget  int
	held    []dStep // postponed events, in order
	heldAt  dState  // the leaf when the first of them was postponed
}

func (r *dRef) leaf() dState { return r.path[len(r.path)-1] }

// enter sets the new configuration and its epochs, outermost first, tells
// the observer, then runs the entered states' enter hooks outermost first,
// each in declaration order, and stops the machine if the leaf is final.
func (r *dRef) enter(keep int, entered []dState, rec dEntry, t dEntry) {
	r.path = append(r.path[:keep:keep], entered...)
	r.epochs = r.epochs[:keep:keep]
	for range entered {
		r.epoch++
		r.epochs = append(r.epochs, r.epoch)
	}
	rec.To, rec.Entered, rec.Epoch = r.leaf(), entered, r.epoch
	if rec.What == "record started" {
		rec.From, rec.State = r.leaf(), r.leaf()
	}
	r.log = append(r.log, rec)
	t.To = r.leaf()
	if rec.What == "record started" {
		t.From = r.leaf()
	}
	for i := keep; i < len(r.path); i++ {
		for _, h := range r.sp.hooks {
			if h.State == r.path[i] && h.Enter {
				e := t
				e.What, e.ID, e.State, e.Epoch = "enter", h.ID, h.State, r.epochs[i]
				r.log = append(r.log, e)
				if h.Fire != 0 && r.budget > 0 {
					r.budget--
					r.queue = append(r.queue, dStep{Event: h.Fire, Payload: dInside + h.ID})
					r.log = append(r.log, dEntry{What: "fire from inside", ID: h.ID, Event: h.Fire, Err: "nil"})
				}
			}
		}
	}
	if r.sp.final[r.leaf()] {
		r.stop()
	}
}

// exit leaves path[keep:]: the tasks of every state left end with the
// outermost one's cause, then the exit hooks run innermost first, each
// state's in reverse declaration order.
func (r *dRef) exit(keep int, t dEntry) {
	cause := (&fsm.ExitError{State: r.path[keep].String()}).Error()
	if t.Event != 0 {
		cause = (&fsm.ExitError{State: r.path[keep].String(), Event: t.Event.String()}).Error()
	}
	for _, s := range r.path[keep:] {
		for range r.sp.tasks[s] {
			r.ends = append(r.ends, dEnd{State: s, Cause: cause})
		}
	}
	for i := len(r.path) - 1; i >= keep; i-- {
		for j := len(r.sp.hooks) - 1; j >= 0; j-- {
			if h := r.sp.hooks[j]; h.State == r.path[i] && !h.Enter {
				e := t
				e.What, e.ID, e.State, e.Epoch = "exit", h.ID, h.State, r.epochs[i]
				r.log = append(r.log, e)
			}
		}
	}
}

func (r *dRef) exited(keep int) []dState {
	out := slices.Clone(r.path[keep:])
	slices.Reverse(out)
	return out
}

func (r *dRef) start() {
	var entered []dState
	entered = append(entered, r.sp.pathTo(r.sp.initial)...)
	for s := r.sp.initial; !r.sp.leaf(s); {
		s = r.sp.kids[s][0]
		entered = append(entered, s)
	}
	r.enter(0, entered, dEntry{What: "record started"}, dEntry{})
}

func (r *dRef) stop() {
	if r.stopped {
		return
	}
	leaf, epoch := r.leaf(), r.epochs[len(r.path)-1]
	r.exit(0, dEntry{From: leaf, Stopping: true})
	r.log = append(r.log, dEntry{What: "record stopped", State: leaf, From: leaf, To: leaf, Epoch: epoch, Exited: r.exited(0)})
	for _, st := range r.held { // disposed as queued events are
		r.log = append(r.log, dEntry{What: "record dropped", State: leaf, From: leaf, To: leaf, Event: st.Event, Payload: st.Payload})
	}
	r.held = nil
	r.stopped = true
}

// run fires e from outside, then processes what hooks fired from inside
// meanwhile, in order; an event still queued when the machine stops is
// dropped.
func (r *dRef) run(e dEvent, payload int) string {
	r.budget = dBudget
	res := r.fire(e, payload)
	r.drain()
	return res
}

// drain processes the events fired from inside, in order.
func (r *dRef) drain() {
	for len(r.queue) > 0 {
		st := r.queue[0]
		r.queue = r.queue[1:]
		if r.stopped {
			leaf := r.leaf()
			r.log = append(r.log, dEntry{What: "record dropped", State: leaf, From: leaf, To: leaf, Event: st.Event, Payload: st.Payload})
			continue
		}
		r.fire(st.Event, st.Payload)
	}
}

// fire processes e with payload and returns the class of Fire's error.
func (r *dRef) fire(e dEvent, payload int) string {
	if int(e) > r.sp.events {
		return "unknown event"
	}
	if r.stopped {
		return "stopped"
	}
	leaf, epoch := r.leaf(), r.epochs[len(r.path)-1]
	rec := dEntry{State: leaf, From: leaf, To: leaf, Event: e, Epoch: epoch, Payload: payload}
	rule := r.sp.resolve(leaf, e)
	rec.State = rule.From // an ignored or rejected event's record names the state that decided
	target := rule.To
	switch rule.Kind {
	case fsm.KindIgnore:
		rec.What, rec.Reason = "record ignored", rule.Reason
		r.log = append(r.log, rec)
		return "nil"
	case fsm.KindReject:
		rec.What, rec.Reason = "record rejected", rule.Reason
		rec.Err = fmt.Sprintf("rejected %v × %v", leaf, e)
		r.log = append(r.log, rec)
		return rec.Err
	case fsm.KindPostpone:
		limit := r.sp.limit
		if limit < 0 {
			limit = fsm.DefaultPostponeLimit
		}
		if len(r.held) >= limit {
			rec.What, rec.Reason = "record rejected", fmt.Sprintf("%d events postponed already", limit)
			rec.Err = fmt.Sprintf("rejected %v × %v", leaf, e)
			r.log = append(r.log, rec)
			return rec.Err
		}
		if len(r.held) == 0 {
			r.heldAt = leaf
		}
		r.held = append(r.held, dStep{Event: e, Payload: payload})
		rec.What, rec.Reason = "record postponed", rule.Reason
		r.log = append(r.log, rec)
		return "nil"
	case fsm.KindChoice:
		target = rule.pick(r.sp, payload)
		r.log = append(r.log, dEntry{What: "pick", State: rule.From, Payload: payload})
		if !slices.Contains(rule.Targets, target) {
			rec.What = "record rejected"
			rec.Err = fmt.Sprintf("undeclared target: rejected %v × %v", leaf, e)
			r.log = append(r.log, rec)
			return rec.Err
		}
	}
	// The domain: the nearest proper ancestor of the rule's state that is
	// also a proper ancestor of the target, or the root.
	domain := r.sp.parent[rule.From]
	for domain != 0 && !r.sp.ancestorOf(domain, target) {
		domain = r.sp.parent[domain]
	}
	keep := len(r.sp.pathTo(domain)) // states of the path at or above the domain stay
	entered := r.sp.pathTo(target)[keep:]
	for s := target; !r.sp.leaf(s); {
		s = r.sp.kids[s][0]
		entered = append(entered, s)
	}
	t := dEntry{From: leaf, Event: e, To: entered[len(entered)-1], Payload: payload}
	exited := r.exited(keep)
	r.exit(keep, t)
	if rule.Action != 0 {
		a := t
		a.What, a.ID, a.State = "action", rule.Action, rule.From
		a.Epoch = r.epochs[slices.Index(r.path, rule.From)]
		r.log = append(r.log, a)
	}
	rec.What, rec.State, rec.Exited = "record transition", leaf, exited
	r.enter(keep, entered, rec, t)
	// Once the configuration (here, the leaf) has changed, the postponed
	// events go back ahead of everything queued, in order.
	if len(r.held) > 0 && !r.stopped && r.leaf() != r.heldAt {
		r.queue = append(r.held, r.queue...)
		r.held = nil
	}
	return "nil"
}

// dEngine drives the engine for one definition and collects what it does.
type dEngine struct {
	sp      *dSpec
	m       *fsm.Machine[dState, dEvent]
	env     *dSpec // the machine's environment: any pointer will do
	mu      sync.Mutex
	log     []dEntry
	ends    []dEnd
	running []atomic.Int32
	budget  atomic.Int32
}

func (g *dEngine) add(e dEntry) {
	g.mu.Lock()
	g.log = append(g.log, e)
	g.mu.Unlock()
}

// take returns what was logged since the last call, and the tasks that
// ended, sorted.
func (g *dEngine) take() ([]dEntry, []dEnd) {
	g.mu.Lock()
	defer g.mu.Unlock()
	log, ends := g.log, g.ends
	g.log, g.ends = nil, nil
	sortEnds(ends)
	return log, ends
}

func sortEnds(ends []dEnd) {
	slices.SortFunc(ends, func(a, b dEnd) int {
		if a.State != b.State {
			return int(a.State - b.State)
		}
		return strings.Compare(a.Cause, b.Cause)
	})
}

// check says what is wrong with a call's context and environment, if
// anything.
func (g *dEngine) check(ctx context.Context, env any) string {
	var bad []string
	if !g.m.Inside(ctx) {
		bad = append(bad, "context not from inside")
	}
	if env != g.env {
		bad = append(bad, fmt.Sprintf("env %v", env))
	}
	return strings.Join(bad, ", ")
}

func (g *dEngine) hook(what string, id int, fire dEvent) fsm.Hook[dState, dEvent] {
	return func(ctx context.Context, t fsm.Transition[dState, dEvent]) {
		g.add(dEntry{
			What: what, ID: id, State: t.State, From: t.From, To: t.To, Event: t.Event,
			Epoch: t.Epoch, Stopping: t.Stopping, Payload: t.Payload, Bad: g.check(ctx, t.Env),
		})
		if fire != 0 && g.budget.Add(-1) >= 0 {
			err := g.m.FireWith(ctx, fire, dInside+id)
			g.add(dEntry{What: "fire from inside", ID: id, Event: fire, Err: fireClass(err)})
		}
	}
}

func (g *dEngine) observe(ctx context.Context, rec fsm.Record[dState, dEvent]) {
	e := dEntry{
		What: "record " + rec.Kind.String(), State: rec.State, From: rec.From, To: rec.To,
		Event: rec.Event, Epoch: rec.Epoch, Payload: rec.Payload, Entered: slices.Clone(rec.Entered),
		Bad: g.check(ctx, g.env),
	}
	for _, l := range rec.Exited {
		e.Exited = append(e.Exited, l.State)
	}
	switch rec.Kind {
	case fsm.RecordIgnored, fsm.RecordPostponed:
		e.Reason = rec.Reason
	case fsm.RecordRejected:
		e.Err = rejectedClass(rec.Err)
		if !errors.Is(rec.Err, fsm.ErrUndeclaredTarget) {
			e.Reason = rec.Reason
		}
	}
	g.add(e)
}

// rejectedClass is a *RejectedError in short: what it matches and names.
func rejectedClass(err error) string {
	var rej *fsm.RejectedError
	if !errors.As(err, &rej) || !errors.Is(err, fsm.ErrRejected) {
		return fmt.Sprintf("not a *RejectedError: %v", err)
	}
	s := fmt.Sprintf("rejected %s × %s", rej.State, rej.Event)
	if errors.Is(err, fsm.ErrUndeclaredTarget) {
		s = "undeclared target: " + s
	}
	return s
}

func fireClass(err error) string {
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, fsm.ErrUnknownEvent):
		return "unknown event"
	case errors.Is(err, fsm.ErrStopped):
		return "stopped"
	}
	return rejectedClass(err)
}

// task runs until its state is left, counting itself in running, and
// reports the cause of its cancellation.
func (g *dEngine) task(s dState) fsm.Task[dState, dEvent] {
	return func(ctx context.Context, in fsm.Transition[dState, dEvent], _ fsm.Emit[dEvent]) error {
		g.running[s].Add(1)
		defer g.running[s].Add(-1)
		<-ctx.Done()
		end := dEnd{State: s, Cause: fmt.Sprint(context.Cause(ctx))}
		var exit *fsm.ExitError
		if !errors.As(context.Cause(ctx), &exit) || !errors.Is(context.Cause(ctx), fsm.ErrStateExited) {
			end.Cause = "not an *ExitError: " + end.Cause
		}
		if bad := g.check(ctx, in.Env); bad != "" {
			end.Cause += " (" + bad + ")"
		}
		g.mu.Lock()
		g.ends = append(g.ends, end)
		g.mu.Unlock()
		return nil
	}
}

// builder declares sp with g's hooks, actions, choices and tasks.
func (g *dEngine) builder() *fsm.Builder[dState, dEvent] {
	sp := g.sp
	b := fsm.NewBuilder[dState, dEvent](sp.initial)
	b.States(sp.order...)
	if sp.limit >= 0 {
		b.PostponeLimit(sp.limit)
	}
	for e := dEvent(1); int(e) <= sp.events; e++ {
		b.Events(e)
	}
	for _, s := range sp.order {
		if !sp.leaf(s) {
			b.Children(s, sp.kids[s]...)
		}
		if sp.final[s] {
			b.Final(s)
		}
	}
	for i := range sp.rules {
		r := &sp.rules[i]
		var then fsm.Outcome[dState]
		switch r.Kind {
		case fsm.KindTransition:
			then = fsm.To(r.To)
		case fsm.KindIgnore:
			then = fsm.Ignore[dState]()
		case fsm.KindReject:
			then = fsm.Reject[dState]()
		case fsm.KindPostpone:
			then = fsm.Postpone[dState]()
		case fsm.KindChoice:
			then = fsm.Choice(func(env, payload any) dState {
				p, _ := payload.(int)
				e := dEntry{What: "pick", State: r.From, Payload: payload}
				if env != g.env {
					e.Bad = fmt.Sprintf("env %v", env)
				}
				g.add(e)
				return r.pick(sp, p)
			}, r.Targets...)
		}
		b.Rules(fsm.Rule[dState, dEvent]{From: r.From, On: r.On, Then: then, Reason: r.Reason})
		if r.Action != 0 {
			b.Action(r.From, r.On, g.hook("action", r.Action, 0))
		}
	}
	for _, h := range sp.hooks {
		if h.Enter {
			b.OnEnter(h.State, g.hook("enter", h.ID, h.Fire))
		} else {
			b.OnExit(h.State, g.hook("exit", h.ID, 0))
		}
	}
	for _, s := range sp.order {
		for i := range sp.tasks[s] {
			b.Task(s, fmt.Sprintf("t%d", i), g.task(s))
		}
	}
	return b
}

// dStep is one event fired from outside, with its payload.
type dStep struct {
	Event   dEvent
	Payload int
}

// TestDifferential runs the engine and the reference side by side on
// random definitions and events; see the top of this file.
func TestDifferential(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sp := drawSpec(t)
		steps := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) dStep {
			e := dEvent(rapid.IntRange(1, sp.events).Draw(t, "event"))
			if rapid.IntRange(0, 15).Draw(t, "unknown") == 0 {
				e = dEvent(sp.events + 1)
			}
			return dStep{Event: e, Payload: rapid.IntRange(0, 5).Draw(t, "payload")}
		}), 1, 24).Draw(t, "steps")
		// In a bubble, synctest.Wait lets every task that was started
		// reach its wait, so the tasks running can be counted exactly.
		rapid.SyncTest(t, func(t *rapid.T) { runDifferential(t, sp, steps) })
	})
}

func runDifferential(t *rapid.T, sp *dSpec, steps []dStep) {
	g := &dEngine{sp: sp, env: sp, running: make([]atomic.Int32, sp.n+1)}
	def, err := g.builder().Build()
	if failureStaysIn(err) {
		t.Skip("a failure event that enters states inside its cancelled scope: refused by Build")
	}
	if un := sp.unreachable(); len(un) > 0 {
		var want []string // Build names the leaves
		for _, s := range un {
			if sp.leaf(s) {
				want = append(want, fmt.Sprintf("state %v is unreachable from %v", s, sp.initial))
			}
		}
		var be *fsm.BuildError
		if !errors.As(err, &be) {
			t.Fatalf("Build of a definition with unreachable states %v: got %v, want a *BuildError\ndefinition:\n%v", un, err, sp)
		}
		var got []string
		for _, p := range be.Problems {
			if !strings.Contains(p, "whose tasks the failure has cancelled") {
				got = append(got, p)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Build problems (-want +got):\n%s\ndefinition:\n%v", diff, sp)
		}
		return
	}
	if err != nil {
		t.Fatalf("Build of a valid definition: %v", err)
	}
	g.m = def.New(fsm.Config[dState, dEvent]{Observer: g.observe, Env: g.env, JoinTimeout: -1})
	defer func() { _ = g.m.Stop(context.Background()) }()
	ref := &dRef{sp: sp}

	g.budget.Store(dBudget)
	g.m.Start(context.Background())
	ref.budget = dBudget
	ref.start()
	ref.drain()
	g.compare(t, ref, "start", "nil", nil)
	ctx := context.Background()
	for i, st := range steps {
		g.budget.Store(dBudget)
		err := g.m.FireWith(ctx, st.Event, st.Payload)
		want := ref.run(st.Event, st.Payload)
		g.compare(t, ref, fmt.Sprintf("step %d: fire %v with %d", i+1, st.Event, st.Payload), want, err)
	}
	err = g.m.Stop(ctx)
	ref.stop()
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	g.compare(t, ref, "stop", "nil", nil)
}

// compare checks the engine against the reference after a step: what was
// logged during it and what the machine reports now.
func (g *dEngine) compare(t *rapid.T, ref *dRef, step, wantFire string, err error) {
	t.Helper()
	synctest.Wait()
	gotLog, gotEnds := g.take()
	sortEnds(ref.ends)
	want := dObs{
		Fire: wantFire, Leaf: ref.leaf(), Path: slices.Clone(ref.path), In: slices.Sorted(slices.Values(ref.path)),
		Epoch: ref.epochs[len(ref.epochs)-1], Done: ref.stopped, Running: make([]int, g.sp.n+1), Ends: ref.ends,
	}
	if !ref.stopped {
		for _, s := range ref.path {
			want.Running[s] = g.sp.tasks[s]
		}
	}
	got := dObs{
		Fire: fireClass(err), Leaf: g.m.State(), Path: g.m.Path(), Epoch: g.m.Epoch(),
		Running: make([]int, g.sp.n+1), Ends: gotEnds,
	}
	select {
	case <-g.m.Done():
		got.Done = true
	default:
	}
	for s := dState(1); int(s) <= g.sp.n; s++ {
		if g.m.In(s) {
			got.In = append(got.In, s)
		}
		got.Running[s] = int(g.running[s].Load())
	}
	wantLog := ref.log
	ref.log, ref.ends = nil, nil
	if diff := cmp.Diff(wantLog, gotLog); diff != "" {
		t.Fatalf("%s: hooks, actions, choices and records (-want +got):\n%s\ndefinition:\n%v", step, diff, g.sp)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%s: machine (-want +got):\n%s\ndefinition:\n%v", step, diff, g.sp)
	}
}

// TestDifferentialBuildErrors breaks valid random definitions in one way
// each and checks that Build reports the problem the reference expects: a
// dropped rule leaves exactly the (leaf, event) pairs the reference cannot
// resolve undeclared; a rule declared twice at one state, a rule of a final
// state, a child given a second parent, an unknown target and a choice
// target listed twice are each named.
func TestDifferentialBuildErrors(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sp := drawSpec(t)
		var (
			want  []string // problems Build must report, among others
			extra func(b *fsm.Builder[dState, dEvent])
		)
		rule := func(label string) dRule { return rapid.SampledFrom(sp.rules).Draw(t, label) }
		leaves := func(pred func(dState) bool) []dState {
			var out []dState
			for _, s := range sp.order {
				if sp.leaf(s) && pred(s) {
					out = append(out, s)
				}
			}
			return out
		}
		switch m := rapid.IntRange(0, 5).Draw(t, "mutation"); m {
		case 0: // drop a rule
			i := rapid.IntRange(0, len(sp.rules)-1).Draw(t, "drop")
			sp.rules = slices.Delete(slices.Clone(sp.rules), i, i+1)
			undeclared := sp.unresolved()
			g := &dEngine{sp: sp, env: sp, running: make([]atomic.Int32, sp.n+1)}
			_, err := g.builder().Build()
			var got [][2]string
			var be *fsm.BuildError
			if errors.As(err, &be) {
				for _, p := range be.Problems {
					if pair, ok := strings.CutPrefix(p, "undeclared: "); ok {
						pair, _, _ = strings.Cut(pair, " (")
						s, e, _ := strings.Cut(pair, " × ")
						got = append(got, [2]string{s, e})
					}
				}
			} else if err != nil {
				t.Fatalf("Build: %v, want a *BuildError", err)
			}
			if diff := cmp.Diff(undeclared, got); diff != "" {
				t.Fatalf("undeclared pairs after dropping rule %d (-want +got):\n%s\ndefinition:\n%v", i, diff, sp)
			}
			return
		case 1: // a rule declared twice at one state
			r := rule("twice")
			extra = func(b *fsm.Builder[dState, dEvent]) {
				b.Rules(fsm.Rule[dState, dEvent]{From: r.From, On: r.On, Then: fsm.Ignore[dState](), Reason: "again"})
			}
			want = []string{fmt.Sprintf("rule %v × %v declared twice", r.From, r.On)}
		case 2: // a rule of a final state
			finals := leaves(func(s dState) bool { return sp.final[s] })
			if len(finals) == 0 {
				return
			}
			f := rapid.SampledFrom(finals).Draw(t, "final")
			extra = func(b *fsm.Builder[dState, dEvent]) {
				b.Rules(fsm.Rule[dState, dEvent]{From: f, On: 1, Then: fsm.To(sp.initial)})
			}
			want = []string{fmt.Sprintf("rule %v × E1: %v is final: no event is processed in it", f, f)}
		case 3: // a child with a second parent
			var kids []dState
			for _, s := range sp.order {
				if sp.parent[s] != 0 {
					kids = append(kids, s)
				}
			}
			if len(kids) == 0 {
				return
			}
			k := rapid.SampledFrom(kids).Draw(t, "child")
			others := leaves(func(s dState) bool { return s != k && !sp.ancestorOf(k, s) })
			if len(others) == 0 {
				return
			}
			p := rapid.SampledFrom(others).Draw(t, "second parent")
			extra = func(b *fsm.Builder[dState, dEvent]) { b.Children(p, k) }
			want = []string{fmt.Sprintf("state %v has two parents: %v and %v", k, sp.parent[k], p)}
		case 4: // an unknown target
			r := rule("unknown target")
			sp.rules = slices.DeleteFunc(slices.Clone(sp.rules), func(x dRule) bool { return x.From == r.From && x.On == r.On })
			bad := dState(sp.n + 1)
			extra = func(b *fsm.Builder[dState, dEvent]) {
				b.Rules(fsm.Rule[dState, dEvent]{From: r.From, On: r.On, Then: fsm.To(bad)})
			}
			want = []string{fmt.Sprintf("rule %v × %v: unknown target state %v", r.From, r.On, bad)}
		case 5: // a choice target listed twice
			r := rule("choice")
			sp.rules = slices.DeleteFunc(slices.Clone(sp.rules), func(x dRule) bool { return x.From == r.From && x.On == r.On })
			target := dState(rapid.IntRange(1, sp.n).Draw(t, "target"))
			extra = func(b *fsm.Builder[dState, dEvent]) {
				pick := func(any, any) dState { return target }
				b.Rules(fsm.Rule[dState, dEvent]{From: r.From, On: r.On, Then: fsm.Choice(pick, target, target)})
			}
			want = []string{fmt.Sprintf("rule %v × %v: choice target %v listed twice", r.From, r.On, target)}
		}
		g := &dEngine{sp: sp, env: sp, running: make([]atomic.Int32, sp.n+1)}
		b := g.builder()
		extra(b)
		_, err := b.Build()
		var be *fsm.BuildError
		if !errors.As(err, &be) {
			t.Fatalf("Build: %v, want a *BuildError with %q\ndefinition:\n%v", err, want, sp)
		}
		for _, w := range want {
			if !slices.Contains(be.Problems, w) {
				t.Fatalf("Build problems %q lack %q\ndefinition:\n%v", be.Problems, w, sp)
			}
		}
	})
}

// failureStaysIn reports whether err is a *BuildError refusing only failure
// events whose transitions enter states inside their cancelled scope:
// random definitions draw such rules, and Build rightly refuses them
// (TestFailureEventMustLeaveScope pins the refusal).
func failureStaysIn(err error) bool {
	var be *fsm.BuildError
	if !errors.As(err, &be) {
		return false
	}
	for _, p := range be.Problems {
		if !strings.Contains(p, "whose tasks the failure has cancelled") {
			return false
		}
	}
	return true
}
