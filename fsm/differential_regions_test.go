package fsm_test

import (
	"fmt"
	"slices"
	"strings"

	"pgregory.net/rapid"
)

// This file holds the reference model of the third-wave semantics:
// parallel regions, internal transitions, history states and postpone,
// written from the specification (SCXML for regions, DESIGN §2.3 and the
// API contract), not from the engine. differential_regions_engine_test.go
// runs it side by side with the engine.
//
// The model keeps the active configuration as a set of states, not a
// path. A step follows the SCXML algorithm: every active leaf, in document
// order, resolves the event up its own ancestors; the rules found are
// taken once each; two transitions whose exit sets meet conflict, and the
// one whose source is a descendant of the other's wins, else the first in
// document order. All exits of a step come first (reverse document order),
// then the actions (in selection order), then all entries (document
// order). Document order is the order of declaration, parents before
// children, a region fully before the next.
//
// Where the specification leaves a choice open, the model picks one and
// says so in a comment marked "choice:".

// rKind is an outcome of the model's rules.
type rKind uint8

const (
	rTo       rKind = iota + 1 // external transition
	rInternal                  // internal transition: the declaring state is not left
	rIgnore
	rReject
	rPostpone
)

func (k rKind) String() string {
	return [...]string{"?", "to", "internal", "ignore", "reject", "postpone"}[k]
}

type rRule struct {
	From   dState
	On     dEvent
	Kind   rKind
	To     dState // rTo, rInternal: a state or a history pseudo-state
	Reason string
	Action int // the action's id; 0 for none
}

// rHist is a history pseudo-state of composite Of.
type rHist struct {
	State, Of dState
	Deep      bool
}

// rSpec is a definition with regions, histories and postpone, in a form
// both the model and the builder read. States are numbered 1..n in
// document order; histories n+1.. after them.
type rSpec struct {
	n, events int
	parent    []dState   // parent[s]; 0 for a top-level state
	kids      [][]dState // kids[s] in declaration order, the first initial
	par       []bool     // par[s]: s is parallel, its kids are its regions
	final     []bool
	hist      []rHist // hist[i].State == n+1+i
	initial   dState
	rules     []rRule
	hooks     []dHook
	tasks     []int    // tasks[s]: how many tasks s runs
	failure   []dEvent // failure[s]: the failure event s declares; 0 for none
	limit     int      // the postpone limit
}

func (sp *rSpec) leaf(s dState) bool { return len(sp.kids[s]) == 0 }

// history returns the history pseudo-state s, if s is one.
func (sp *rSpec) history(s dState) (rHist, bool) {
	if int(s) > sp.n && int(s) <= sp.n+len(sp.hist) {
		return sp.hist[int(s)-sp.n-1], true
	}
	return rHist{}, false
}

// below reports whether d is a proper descendant of a; every state is
// below the root, 0.
func (sp *rSpec) below(d, a dState) bool {
	if h, ok := sp.history(d); ok {
		return h.Of == a || sp.below(h.Of, a)
	}
	for p := sp.parent[d]; ; p = sp.parent[p] {
		if p == a {
			return true
		}
		if p == 0 {
			return false
		}
	}
}

// own is the rule s itself declares for e.
func (sp *rSpec) own(s dState, e dEvent) *rRule {
	for i := range sp.rules {
		if sp.rules[i].From == s && sp.rules[i].On == e {
			return &sp.rules[i]
		}
	}
	return nil
}

// resolve finds the rule for e from leaf upward.
func (sp *rSpec) resolve(leaf dState, e dEvent) *rRule {
	for s := leaf; s != 0; s = sp.parent[s] {
		if r := sp.own(s, e); r != nil {
			return r
		}
	}
	return nil
}

// underParallel reports whether s is below a parallel state.
func (sp *rSpec) underParallel(s dState) bool {
	for p := sp.parent[s]; p != 0; p = sp.parent[p] {
		if sp.par[p] {
			return true
		}
	}
	return false
}

// depth is the number of proper ancestors of s.
func (sp *rSpec) depth(s dState) int {
	d := 0
	for p := sp.parent[s]; p != 0; p = sp.parent[p] {
		d++
	}
	return d
}

// String describes sp for a failure message.
func (sp *rSpec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "initial %v, events E1..E%d, postpone limit %d\n", sp.initial, sp.events, sp.limit)
	for s := dState(1); int(s) <= sp.n; s++ {
		ind := strings.Repeat("  ", sp.depth(s))
		fmt.Fprintf(&b, "%s%v", ind, s)
		switch {
		case sp.par[s]:
			fmt.Fprintf(&b, " parallel %v", sp.kids[s])
		case !sp.leaf(s):
			fmt.Fprintf(&b, " children %v", sp.kids[s])
		}
		for _, h := range sp.hist {
			if h.Of == s {
				fmt.Fprintf(&b, " history %v deep=%v", h.State, h.Deep)
			}
		}
		if sp.final[s] {
			b.WriteString(" final")
		}
		if sp.tasks[s] > 0 {
			fmt.Fprintf(&b, " tasks %d", sp.tasks[s])
		}
		if sp.failure[s] != 0 {
			fmt.Fprintf(&b, " failure %v", sp.failure[s])
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
				fmt.Fprintf(&b, "%s  %v: %v", ind, r.On, r.Kind)
				if r.Kind == rTo || r.Kind == rInternal {
					fmt.Fprintf(&b, " %v", r.To)
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

// rEntry is one line of the trace: a hook or an action running with what
// it was handed, an event fired from inside, or a record. It leaves out a
// transition's From and To leaves: with regions, several leaves are left
// and entered at once, and Exited and Entered say which.
type rEntry struct {
	What     string // "enter", "exit", "action", "fire from inside" or "record <kind>"
	ID       int
	State    dState
	Event    dEvent
	Epoch    uint64
	Stopping bool
	Payload  any
	Exited   []dState // records: the states exited, in exit order
	Entered  []dState // records: the states entered, in entry order
	Reason   string
	Err      string
}

// rEvent is an event waiting to be processed: fired from inside, emitted
// by a failing task (stamped with the entry of the state that declares
// the failure event), or postponed.
type rEvent struct {
	Event   dEvent
	Payload any
	Stamp   dState // 0: not stamped
	Epoch   uint64
}

// rRef is the reference machine.
type rRef struct {
	sp           *rSpec
	act          []bool   // act[s]: s is active
	ep           []uint64 // ep[s]: the epoch of s's last entry
	epoch        uint64
	mem          map[dState][]dState // composite → its active descendants when it was last exited
	live         []int               // live[s]: tasks of s running
	stopped      bool
	log          []rEntry
	ends         []dEnd
	queue        []rEvent
	postponed    []rEvent
	budget       int
	quiet        bool            // explore only: no hooks fire events
	engineScopes bool            // see rOpts.engineScopes
	rejectFirst  bool            // see rOpts.rejectFirst
	dead         map[dState]bool // failure scopes cancelled and still active
}

func newRRef(sp *rSpec) *rRef {
	return &rRef{
		sp: sp, act: make([]bool, sp.n+1), ep: make([]uint64, sp.n+1),
		mem: map[dState][]dState{}, live: make([]int, sp.n+1), dead: map[dState]bool{},
	}
}

// config returns the active states in document order.
func (r *rRef) config() []dState {
	var out []dState
	for s := dState(1); int(s) <= r.sp.n; s++ {
		if r.act[s] {
			out = append(out, s)
		}
	}
	return out
}

// leaves returns the active leaves in document order.
func (r *rRef) leaves() []dState {
	var out []dState
	for _, s := range r.config() {
		if r.sp.leaf(s) {
			out = append(out, s)
		}
	}
	return out
}

// descendants returns the active proper descendants of s in document
// order.
func (r *rRef) descendants(s dState) []dState {
	var out []dState
	for _, d := range r.config() {
		if r.sp.below(d, s) {
			out = append(out, d)
		}
	}
	return out
}

// effective returns the states a target stands for: itself, or for a
// history what its composite last left (shallow: the children, deep: the
// leaves), or, if never left, its composite's default children.
func (r *rRef) effective(t dState) []dState {
	h, ok := r.sp.history(t)
	if !ok {
		return []dState{t}
	}
	mem, left := r.mem[h.Of]
	var out []dState
	for _, d := range mem {
		if (h.Deep && r.sp.leaf(d)) || (!h.Deep && r.sp.parent[d] == h.Of) {
			out = append(out, d)
		}
	}
	if !left {
		out = r.defaults(h.Of)
	}
	return out
}

// defaults returns the children s enters by default: its regions, or its
// initial child.
func (r *rRef) defaults(s dState) []dState {
	if r.sp.par[s] {
		return slices.Clone(r.sp.kids[s])
	}
	return r.sp.kids[s][:1]
}

// domain returns the state below which rule's transition exits and
// enters. An internal rule's domain is its own state (the specification
// makes the target a proper descendant of it). An external one's is the
// nearest proper ancestor of its state that is no parallel state and is an
// ancestor of every effective target (SCXML's LCCA), or the root.
func (r *rRef) domain(rule *rRule) dState {
	if rule.Kind == rInternal {
		return rule.From
	}
	targets := r.effective(rule.To)
	for a := r.sp.parent[rule.From]; ; a = r.sp.parent[a] {
		if a == 0 {
			return 0
		}
		if r.sp.par[a] {
			continue
		}
		all := true
		for _, t := range targets {
			all = all && r.sp.below(t, a)
		}
		if all {
			return a
		}
	}
}

// exitSet returns the active states rule's transition exits.
func (r *rRef) exitSet(rule *rRule) []dState {
	return r.descendants(r.domain(rule))
}

// addDesc adds s to set, and what entering s enters below it: SCXML's
// addDescendantStatesToEnter.
func (r *rRef) addDesc(s dState, set map[dState]bool) {
	if h, ok := r.sp.history(s); ok {
		mem, left := r.mem[h.Of]
		switch {
		case !left:
			for _, c := range r.defaults(h.Of) {
				r.addDesc(c, set)
			}
		case h.Deep: // mem is a whole configuration below h.Of
			for _, d := range mem {
				set[d] = true
			}
		default:
			for _, d := range mem {
				if r.sp.parent[d] == h.Of {
					r.addDesc(d, set)
				}
			}
		}
		return
	}
	set[s] = true
	if r.sp.leaf(s) {
		return
	}
	for _, c := range r.defaults(s) {
		if !r.covered(c, set) {
			r.addDesc(c, set)
		}
	}
}

// covered reports whether set holds c or a descendant of c.
func (r *rRef) covered(c dState, set map[dState]bool) bool {
	for d := range set {
		if d == c || r.sp.below(d, c) {
			return true
		}
	}
	return false
}

// addAnc adds the proper ancestors of s below domain, and for a parallel
// one the regions nothing in set covers yet: SCXML's
// addAncestorStatesToEnter.
func (r *rRef) addAnc(s, domain dState, set map[dState]bool) {
	if h, ok := r.sp.history(s); ok {
		if h.Of == domain {
			return
		}
		set[h.Of] = true
		s = h.Of
	}
	for a := r.sp.parent[s]; a != domain && a != 0; a = r.sp.parent[a] {
		set[a] = true
		if r.sp.par[a] {
			for _, c := range r.sp.kids[a] {
				if !r.covered(c, set) {
					r.addDesc(c, set)
				}
			}
		}
	}
}

// entrySet returns the states the transitions enter, in document order.
func (r *rRef) entrySet(rules []*rRule, domains []dState) []dState {
	set := map[dState]bool{}
	for _, rule := range rules {
		r.addDesc(rule.To, set)
	}
	for i, rule := range rules {
		for _, t := range r.effective(rule.To) {
			if t != rule.To {
				r.addAnc(t, domains[i], set) // a restored state: its ancestors up to the domain
			}
		}
		r.addAnc(rule.To, domains[i], set)
		// choice: an internal rule on a parallel state exits every region
		// (its domain is the state, as in XState) and enters the regions
		// the target is not in by default.
		if d := domains[i]; d != 0 && r.sp.par[d] {
			for _, c := range r.sp.kids[d] {
				if !r.covered(c, set) {
					r.addDesc(c, set)
				}
			}
		}
	}
	for s := range set {
		if r.act[s] && !r.leaving(s, rules, domains) {
			delete(set, s) // still active: not entered again
		}
	}
	out := slices.Collect(func(yield func(dState) bool) {
		for s := range set {
			if !yield(s) {
				return
			}
		}
	})
	slices.Sort(out) // states are numbered in document order
	return out
}

// leaving reports whether s is exited by one of the transitions.
func (r *rRef) leaving(s dState, rules []*rRule, domains []dState) bool {
	for i := range rules {
		if r.sp.below(s, domains[i]) {
			return true
		}
	}
	return false
}

// selectRules returns the rules an event selects in the current
// configuration: every active leaf's, in document order, once each, with
// conflicting transitions removed as SCXML does.
//
// choice (the specification asks for failure scopes per region; the
// engine states this): a failure event, stamped with its scope, is
// offered only to the active leaves below the scope.
func (r *rRef) selectRules(e dEvent, scope dState) []*rRule {
	var found []*rRule
	for _, l := range r.leaves() {
		if scope != 0 && l != scope && !r.sp.below(l, scope) {
			continue
		}
		if rule := r.sp.resolve(l, e); rule != nil && !slices.Contains(found, rule) {
			found = append(found, rule)
		}
	}
	var kept []*rRule
	for _, t1 := range found {
		if t1.Kind != rTo && t1.Kind != rInternal {
			kept = append(kept, t1)
			continue
		}
		x1 := r.exitSet(t1)
		preempted := false
		var drop []*rRule
		for _, t2 := range kept {
			if t2.Kind != rTo && t2.Kind != rInternal {
				continue
			}
			if !meet(x1, r.exitSet(t2)) {
				continue
			}
			if r.sp.below(t1.From, t2.From) {
				drop = append(drop, t2)
			} else {
				preempted = true
				break
			}
		}
		if !preempted {
			kept = slices.DeleteFunc(kept, func(t *rRule) bool { return slices.Contains(drop, t) })
			kept = append(kept, t1)
		}
	}
	return kept
}

func meet(a, b []dState) bool {
	for _, s := range a {
		if slices.Contains(b, s) {
			return true
		}
	}
	return false
}

// top returns the outermost state of set that is s or an ancestor of s:
// the state whose exit cancels s's tasks.
func (r *rRef) top(s dState, set []dState) dState {
	t := s
	for p := r.sp.parent[s]; p != 0; p = r.sp.parent[p] {
		if slices.Contains(set, p) {
			t = p
		}
	}
	return t
}

// exit leaves the states of set (any order): their tasks end, each with
// the exit of its outermost state left as cause, each composite's active
// descendants are remembered for its history, then the exit hooks run in
// reverse document order, each state's in reverse declaration order. It
// returns the states exited in exit order.
func (r *rRef) exit(set []dState, t rEntry) []dState {
	order := slices.Clone(set)
	slices.Sort(order)
	slices.Reverse(order)
	for _, s := range order {
		cause := exitCause(r.top(s, set), t.Event)
		for range r.live[s] {
			r.ends = append(r.ends, dEnd{State: s, Cause: cause})
		}
		r.live[s] = 0
		if !r.sp.leaf(s) {
			r.mem[s] = r.descendants(s)
		}
	}
	for _, s := range order {
		for j := len(r.sp.hooks) - 1; j >= 0; j-- {
			if h := r.sp.hooks[j]; h.State == s && !h.Enter {
				e := t
				e.What, e.ID, e.State, e.Epoch = "exit", h.ID, s, r.ep[s]
				r.log = append(r.log, e)
			}
		}
	}
	for _, s := range order {
		r.act[s] = false
		delete(r.dead, s)
	}
	return order
}

// exitCause is the cause the tasks of a state left by the exit of s end
// with, in the engine's words.
func exitCause(s dState, e dEvent) string {
	if e == 0 {
		return fmt.Sprintf("fsm: state %v exited: machine stopped", s)
	}
	return fmt.Sprintf("fsm: state %v exited on %v", s, e)
}

// enter enters the states of entered (document order): epochs first, then
// the record, then each state's enter hooks and tasks, outermost first.
// The machine stops if it lands on a final leaf.
func (r *rRef) enter(entered []dState, rec, t rEntry) {
	for _, s := range entered {
		r.epoch++
		r.ep[s] = r.epoch
		r.act[s] = true
	}
	rec.Entered = entered
	r.log = append(r.log, rec)
	for _, s := range entered {
		for _, h := range r.sp.hooks {
			if h.State != s || !h.Enter {
				continue
			}
			e := t
			e.What, e.ID, e.State, e.Epoch = "enter", h.ID, s, r.ep[s]
			r.log = append(r.log, e)
			if h.Fire != 0 && r.budget > 0 && !r.quiet {
				r.budget--
				r.queue = append(r.queue, rEvent{Event: h.Fire, Payload: dInside + h.ID})
				r.log = append(r.log, rEntry{What: "fire from inside", ID: h.ID, Event: h.Fire, Err: "nil"})
			}
		}
		r.live[s] = r.sp.tasks[s]
		if r.engineScopes && r.live[s] > 0 && r.underDead(s) {
			for range r.live[s] {
				r.ends = append(r.ends, dEnd{State: s, Cause: "failure"})
			}
			r.live[s] = 0
		}
	}
	for _, l := range r.leaves() {
		if r.sp.final[l] {
			r.stop()
			return
		}
	}
}

func (r *rRef) start() {
	set := map[dState]bool{}
	r.addDesc(r.sp.initial, set)
	r.addAnc(r.sp.initial, 0, set)
	entered := slices.Sorted(func(yield func(dState) bool) {
		for s := range set {
			if !yield(s) {
				return
			}
		}
	})
	r.enter(entered, rEntry{What: "record started"}, rEntry{})
}

// stop exits every active state. choice: events still postponed are
// disposed after the stop record, ahead of the queue, as dropped events.
func (r *rRef) stop() {
	if r.stopped {
		return
	}
	exited := r.exit(r.config(), rEntry{Stopping: true})
	r.log = append(r.log, rEntry{What: "record stopped", Exited: exited})
	r.stopped = true
	r.queue = append(r.postponed, r.queue...)
	r.postponed = nil
}

// run fires e from outside, then processes what was queued meanwhile, in
// order; it returns the class of Fire's error.
func (r *rRef) run(e dEvent, payload any) string {
	r.budget = dBudget
	res := r.fire(rEvent{Event: e, Payload: payload})
	r.drain()
	return res
}

// drain processes the queued events, in order; one still queued when the
// machine stops is dropped.
func (r *rRef) drain() {
	for len(r.queue) > 0 {
		ev := r.queue[0]
		r.queue = r.queue[1:]
		if r.stopped {
			r.log = append(r.log, rEntry{What: "record dropped", Event: ev.Event, Payload: ev.Payload})
			continue
		}
		r.fire(ev)
	}
}

// fire processes one event and returns the class of Fire's error.
func (r *rRef) fire(ev rEvent) string {
	e := ev.Event
	if int(e) > r.sp.events {
		return "unknown event"
	}
	if r.stopped {
		return "stopped"
	}
	if ev.Stamp != 0 && (!r.act[ev.Stamp] || r.ep[ev.Stamp] != ev.Epoch) {
		r.log = append(r.log, rEntry{What: "record stale", State: ev.Stamp, Event: e, Epoch: ev.Epoch, Payload: ev.Payload})
		return "nil"
	}
	rules := r.selectRules(e, ev.Stamp)
	leafOf := func(rule *rRule) dState { // the first active leaf whose resolution found rule
		for _, l := range r.leaves() {
			if r.sp.resolve(l, e) == rule && (ev.Stamp == 0 || l == ev.Stamp || r.sp.below(l, ev.Stamp)) {
				return l
			}
		}
		return 0
	}
	// The specification: if any region postpones the event, the whole
	// event is postponed and no region takes it.
	for _, rule := range rules {
		if rule.Kind != rPostpone {
			continue
		}
		if r.rejectFirst && slices.ContainsFunc(rules, func(x *rRule) bool { return x.Kind == rReject }) {
			break
		}
		if len(r.postponed) >= r.sp.limit {
			err := fmt.Sprintf("postpone limit: rejected %v × %v", leafOf(rule), e)
			r.log = append(r.log, rEntry{What: "record rejected", State: rule.From, Event: e, Payload: ev.Payload, Err: err})
			return err
		}
		r.postponed = append(r.postponed, ev)
		// choice: a postponed event is reported once, by the rule that
		// postponed it, as a record of its own kind.
		r.log = append(r.log, rEntry{What: "record postponed", State: rule.From, Event: e, Payload: ev.Payload, Reason: rule.Reason})
		return "nil"
	}
	// choice (the specification is silent; the engine states it): a
	// rejection in any region rejects the whole event, and no region
	// takes it; the first in document order is reported.
	for _, rule := range rules {
		if rule.Kind == rReject {
			err := fmt.Sprintf("rejected %v × %v", leafOf(rule), e)
			r.log = append(r.log, rEntry{What: "record rejected", State: rule.From, Event: e, Payload: ev.Payload, Reason: rule.Reason, Err: err})
			return err
		}
	}
	var moves []*rRule
	for _, rule := range rules {
		if rule.Kind == rTo || rule.Kind == rInternal {
			moves = append(moves, rule)
		}
	}
	if len(moves) == 0 {
		// choice (the specification is silent; the engine does so): an
		// event every region ignores is one ignored record, the first
		// rule's in document order.
		rule := rules[0]
		r.log = append(r.log, rEntry{What: "record ignored", State: rule.From, Event: e, Payload: ev.Payload, Reason: rule.Reason})
		return "nil"
	}
	// choice: the ignores of regions that do not move when another region
	// does are not reported; the step is one transition.
	before := r.config()
	domains := make([]dState, len(moves))
	var exitSet []dState
	for i, m := range moves {
		domains[i] = r.domain(m)
		for _, s := range r.exitSet(m) {
			if !slices.Contains(exitSet, s) {
				exitSet = append(exitSet, s)
			}
		}
	}
	t := rEntry{Event: e, Payload: ev.Payload}
	exited := r.exit(exitSet, t)
	for _, m := range moves {
		if m.Action != 0 {
			a := t
			a.What, a.ID, a.State, a.Epoch = "action", m.Action, m.From, r.ep[m.From]
			r.log = append(r.log, a)
		}
	}
	entered := r.entrySet(moves, domains)
	r.enter(entered, rEntry{What: "record transition", Event: e, Payload: ev.Payload, Exited: exited}, t)
	if !r.stopped && !slices.Equal(before, r.config()) {
		r.queue = append(r.postponed, r.queue...)
		r.postponed = nil
	}
	return "nil"
}

// fault makes task i of state s fail with err, if s is active and that
// task still runs: the failure is reported, then the tasks of the scope
// (the state declaring the failure event that applies, and its active
// descendants; without one, s alone) end, and the failure event is queued
// stamped with the scope's entry.
func (r *rRef) fault(s dState, i int, err string) {
	if r.stopped || !r.act[s] || i >= r.live[s] {
		return
	}
	r.log = append(r.log, rEntry{What: "record task_failed", State: s, Epoch: r.ep[s], Err: err})
	scope := s
	for scope != 0 && r.sp.failure[scope] == 0 {
		scope = r.sp.parent[scope]
	}
	r.live[s]--
	r.ends = append(r.ends, dEnd{State: s, Cause: "failed"})
	cancel := []dState{s}
	switch {
	case scope != 0:
		cancel = append([]dState{scope}, r.descendants(scope)...)
		r.dead[scope] = true
	case r.engineScopes:
		cancel = append(cancel, r.descendants(s)...)
		r.dead[s] = true
	}
	for _, c := range cancel {
		for range r.live[c] {
			r.ends = append(r.ends, dEnd{State: c, Cause: "failure"})
		}
		r.live[c] = 0
	}
	if scope != 0 {
		r.queue = append(r.queue, rEvent{Event: r.sp.failure[scope], Payload: err, Stamp: scope, Epoch: r.ep[scope]})
	}
	r.budget = dBudget
	r.drain()
}

// underDead reports whether s is a cancelled failure scope or below one.
func (r *rRef) underDead(s dState) bool {
	for ; s != 0; s = r.sp.parent[s] {
		if r.dead[s] {
			return true
		}
	}
	return false
}

// key sums up the machine for exploration.
func (r *rRef) key() string {
	var b strings.Builder
	fmt.Fprint(&b, r.config(), r.stopped)
	for s := dState(1); int(s) <= r.sp.n; s++ {
		if m, ok := r.mem[s]; ok {
			fmt.Fprint(&b, s, m)
		}
	}
	for _, p := range r.postponed {
		fmt.Fprint(&b, p.Event)
	}
	return b.String()
}

// clone copies the machine's state, not its log.
func (r *rRef) clone() *rRef {
	c := *r
	c.act, c.ep, c.live = slices.Clone(r.act), slices.Clone(r.ep), slices.Clone(r.live)
	c.dead = make(map[dState]bool, len(r.dead))
	for k, v := range r.dead {
		c.dead[k] = v
	}
	c.mem = make(map[dState][]dState, len(r.mem))
	for k, v := range r.mem {
		c.mem[k] = v
	}
	c.queue, c.postponed, c.log, c.ends = slices.Clone(r.queue), slices.Clone(r.postponed), nil, nil
	return &c
}

// reachable returns the states some sequence of events from outside makes
// active, exploring the model's configurations, history memories and
// postponed events, without hooks firing events.
func (sp *rSpec) reachable() []bool {
	seen := make([]bool, sp.n+1)
	r := newRRef(sp)
	r.quiet = true
	r.start()
	visited := map[string]bool{r.key(): true}
	todo := []*rRef{r}
	for len(todo) > 0 && len(visited) < 4000 {
		cur := todo[0]
		todo = todo[1:]
		for _, s := range cur.config() {
			seen[s] = true
		}
		if cur.stopped {
			continue
		}
		for e := dEvent(1); int(e) <= sp.events; e++ {
			next := cur.clone()
			next.run(e, 0)
			if k := next.key(); !visited[k] {
				visited[k] = true
				todo = append(todo, next)
			}
		}
	}
	for _, r := range todo { // states seen past the bound
		for _, s := range r.config() {
			seen[s] = true
		}
	}
	return seen
}

// drawRSpec draws a tree of up to 14 states, some composite, some
// parallel with 2 or 3 regions, histories on some composites, 2 to 4
// events, rules for every (leaf, event) pair that needs one (transitions
// external and internal, to states and histories, ignores, rejections,
// postpones), hooks, actions, tasks, failure events, final leaves, and a
// postpone limit of 0 to 3. Every state is made
// reachable. opts leaves out what an engine does not run.
func drawRSpec(t *rapid.T, opts rOpts) *rSpec {
	sp := &rSpec{parent: []dState{0}, kids: [][]dState{nil}, par: []bool{false}}
	add := func(parent dState) dState {
		sp.n++
		s := dState(sp.n)
		sp.parent = append(sp.parent, parent)
		sp.kids = append(sp.kids, nil)
		sp.par = append(sp.par, false)
		if parent != 0 {
			sp.kids[parent] = append(sp.kids[parent], s)
		}
		return s
	}
	const maxStates = 14
	// grow gives s children, in document order; a region must have some.
	var grow func(s dState, depth int, must bool)
	grow = func(s dState, depth int, must bool) {
		room := maxStates - sp.n
		if depth == 0 || room < 1 {
			if must {
				add(s)
			}
			return
		}
		shape := rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("shape %v", s))
		switch {
		case shape == 3 && room >= 4 && depth >= 2: // parallel
			sp.par[s] = true
			for range rapid.IntRange(2, min(3, room/2)).Draw(t, fmt.Sprintf("regions of %v", s)) {
				grow(add(s), depth-1, true)
			}
		case shape >= 1 || must:
			for range rapid.IntRange(1, min(3, room)).Draw(t, fmt.Sprintf("children of %v", s)) {
				grow(add(s), depth-1, false)
			}
		}
	}
	for range rapid.IntRange(1, 3).Draw(t, "top") {
		if sp.n < maxStates {
			grow(add(0), rapid.IntRange(0, 3).Draw(t, "depth"), false)
		}
	}
	sp.events = rapid.IntRange(2, 4).Draw(t, "events")
	sp.initial = dState(rapid.IntRange(1, sp.n).Draw(t, "initial"))
	sp.limit = rapid.IntRange(0, 3).Draw(t, "limit")
	sp.final = make([]bool, sp.n+1)
	sp.tasks = make([]int, sp.n+1)
	sp.failure = make([]dEvent, sp.n+1)
	for s := dState(1); int(s) <= sp.n; s++ {
		if !sp.leaf(s) && rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("history of %v", s)) == 0 {
			sp.hist = append(sp.hist, rHist{State: dState(sp.n + len(sp.hist) + 1), Of: s, Deep: rapid.Bool().Draw(t, "deep")})
		}
	}
	start := newRRef(sp)
	start.start() // no final leaf yet: the initial configuration
	for s := dState(1); int(s) <= sp.n; s++ {
		if sp.leaf(s) && !start.act[s] && (opts.finalInRegions || !sp.underParallel(s)) && rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("final %v", s)) == 0 {
			sp.final[s] = true
		}
	}
	actions := 0
	for s := dState(1); int(s) <= sp.n; s++ { // parents first: inherited rules are known
		if sp.final[s] {
			continue
		}
		for e := dEvent(1); int(e) <= sp.events; e++ {
			inherited := sp.parent[s] != 0 && sp.resolve(sp.parent[s], e) != nil
			switch {
			case sp.leaf(s) && !inherited: // someone must decide
			case sp.leaf(s):
				if rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("override %v %v", s, e)) != 0 {
					continue
				}
			default:
				if !rapid.Bool().Draw(t, fmt.Sprintf("declare %v %v", s, e)) {
					continue
				}
			}
			sp.rules = append(sp.rules, drawRRule(t, sp, s, e, opts, &actions))
		}
	}
	// Repair: a leaf no event reaches gets a transition from a reachable
	// leaf.
	for range 3 * maxStates {
		seen := sp.reachable()
		var lost, from []dState
		for s := dState(1); int(s) <= sp.n; s++ {
			switch {
			case !seen[s] && sp.leaf(s):
				lost = append(lost, s)
			case seen[s] && sp.leaf(s) && !sp.final[s]:
				from = append(from, s)
			}
		}
		if len(lost) == 0 || len(from) == 0 {
			break
		}
		f := rapid.SampledFrom(from).Draw(t, "repair from")
		e := dEvent(rapid.IntRange(1, sp.events).Draw(t, "repair on"))
		r := rRule{From: f, On: e, Kind: rTo, To: lost[0]}
		if own := sp.own(f, e); own != nil {
			*own = r
		} else {
			sp.rules = append(sp.rules, r)
		}
	}
	hooks := 0
	for s := dState(1); int(s) <= sp.n; s++ {
		for range rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("hooks of %v", s)) {
			hooks++
			h := dHook{State: s, Enter: rapid.Bool().Draw(t, "enter"), ID: hooks}
			if h.Enter && rapid.IntRange(0, 3).Draw(t, "fires") == 0 {
				h.Fire = dEvent(rapid.IntRange(1, sp.events).Draw(t, "fire"))
			}
			sp.hooks = append(sp.hooks, h)
		}
		if !sp.final[s] {
			sp.tasks[s] = rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("tasks of %v", s))
			if rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("failure of %v", s)) == 0 {
				sp.failure[s] = dEvent(rapid.IntRange(1, sp.events).Draw(t, "failure event"))
			}
		}
	}
	return sp
}

// drawRRule draws the outcome of (s, e).
// rOpts says what drawn definitions may hold.
type rOpts struct {
	postpone           bool // rules that postpone
	internalOnParallel bool // internal rules declared on a parallel state
	faults             bool // tasks that fail (steps, not definitions)
	historyFromInside  bool // rules targeting the history of a composite they are declared below
	finalInRegions     bool // final leaves below a parallel state
	// engineScopes makes the model cancel on a failure as the engine
	// does, against doc.go: without a failure event up the tree, the
	// tasks of the failed task's state and of its descendants end (doc.go:
	// only its siblings); and the tasks of states entered below the
	// cancelled state while it stays active end as soon as they start. It
	// lets the rest of a run with faults be compared.
	engineScopes bool
	// rejectFirst makes the model do as the engine does, against the
	// specification ("if any region's rule postpones the event, the whole
	// event is postponed"): a rejection in one region wins over a postpone
	// in another.
	rejectFirst bool
}

func drawRRule(t *rapid.T, sp *rSpec, s dState, e dEvent, opts rOpts, actions *int) rRule {
	r := rRule{From: s, On: e}
	targets := make([]dState, 0, sp.n+len(sp.hist))
	for x := dState(1); int(x) <= sp.n+len(sp.hist); x++ {
		targets = append(targets, x)
	}
	var inner []dState // internal targets: proper descendants, histories of composites below s
	for _, x := range targets {
		if h, ok := sp.history(x); ok {
			if h.Of != s && sp.below(h.Of, s) {
				inner = append(inner, x)
			}
		} else if sp.below(x, s) {
			inner = append(inner, x)
		}
	}
	if !opts.historyFromInside {
		targets = slices.DeleteFunc(targets, func(x dState) bool {
			h, ok := sp.history(x)
			return ok && sp.below(s, h.Of)
		})
	}
	switch k := rapid.IntRange(0, 11).Draw(t, fmt.Sprintf("kind %v %v", s, e)); {
	case k < 4:
		r.Kind, r.To = rTo, rapid.SampledFrom(targets).Draw(t, "to")
	case k < 6 && len(inner) > 0 && (opts.internalOnParallel || !sp.par[s]):
		r.Kind, r.To = rInternal, rapid.SampledFrom(inner).Draw(t, "internal")
	case k < 8 || !opts.postpone && k >= 9:
		r.Kind, r.Reason = rIgnore, "harmless"
	case k < 9:
		r.Kind, r.Reason = rReject, "a bug"
	default:
		r.Kind, r.Reason = rPostpone, "later"
	}
	if (r.Kind == rTo || r.Kind == rInternal) && rapid.Bool().Draw(t, "action") {
		*actions++
		r.Action = *actions
	}
	return r
}
