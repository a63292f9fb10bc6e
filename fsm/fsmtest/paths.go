package fsmtest

import (
	"fmt"
	"strings"

	"github.com/connfsm/connfsm/fsm"
)

// Step is one event applied to a leaf, as the definition's rules decide
// it: From and To are leaves (a transition to a composite state ends in its
// initial leaf). A Choice has one step per declared target, of kind
// fsm.KindChoice.
//
// In a definition with parallel states, one event may move several
// regions: Explore's steps then hold every transition taken in Moves (in
// document order), and From and To are the first one's.
type Step[S, E comparable] struct {
	From  S
	Event E
	Kind  fsm.Kind
	To    S // equals From unless Kind is fsm.KindTransition or fsm.KindChoice
	// Moves is set by Explore for definitions with parallel states or
	// histories: every transition the step took; nil otherwise.
	Moves []fsm.Move[S]
}

// String formats the step as "From --Event--> To" (with "(choice)" after a
// choice's branch), or with "(ignore)" or "(reject)" in place of To. A step
// that moved several regions lists the others after " + ".
func (s Step[S, E]) String() string {
	var out string
	switch s.Kind {
	case fsm.KindTransition:
		out = fmt.Sprintf("%v --%v--> %v", s.From, s.Event, s.To)
	case fsm.KindChoice:
		out = fmt.Sprintf("%v --%v--> %v (choice)", s.From, s.Event, s.To)
	default:
		return fmt.Sprintf("%v --%v--> (%v)", s.From, s.Event, s.Kind)
	}
	for i := 1; i < len(s.Moves); i++ {
		out += fmt.Sprintf(" + %v --%v--> %v", s.Moves[i].From, s.Event, s.Moves[i].To)
	}
	return out
}

// moves reports whether the step leaves its leaf's entry.
func (s Step[S, E]) moves() bool { return s.Kind == fsm.KindTransition || s.Kind == fsm.KindChoice }

// Path is a sequence of events fired from the initial state and the states
// it visits: States[0] is the initial state and States[i+1] the state after
// Events[i].
type Path[S, E comparable] struct {
	Events []E
	States []S
}

// String formats the path as "A --e--> B --f--> C".
func (p Path[S, E]) String() string {
	var b strings.Builder
	if len(p.States) > 0 {
		fmt.Fprint(&b, p.States[0])
	}
	for i, e := range p.Events {
		fmt.Fprintf(&b, " --%v-->", e)
		if i+1 < len(p.States) {
			fmt.Fprintf(&b, " %v", p.States[i+1])
		}
	}
	return b.String()
}

// model is a definition's rules over its leaves, indexed by position, for
// walking them fast.
type model[S, E comparable] struct {
	states  []S // the leaves
	events  []E
	index   map[S]int
	initial int
	final   []bool
	steps   []Step[S, E] // every step, by leaf then event then branch
	next    []int        // the leaf each step leads to
	cells   [][2]int     // per (leaf, event): the range of its steps
}

func newModel[S, E comparable](def *fsm.Definition[S, E]) *model[S, E] {
	m := &model[S, E]{states: def.Leaves(), events: def.Events()}
	m.index = make(map[S]int, len(m.states))
	for i, s := range m.states {
		m.index[s] = i
	}
	init := def.Initial()
	for kids := def.Children(init); len(kids) > 0; kids = def.Children(init) {
		init = kids[0]
	}
	m.initial = m.index[init]
	m.final = make([]bool, len(m.states))
	m.cells = make([][2]int, len(m.states)*len(m.events))
	for si, s := range m.states {
		m.final[si] = def.IsFinal(s)
		for ei, e := range m.events {
			first := len(m.steps)
			c, ok := def.Cell(s, e) // every (leaf, event) of a built definition has one, finals excepted
			switch {
			case !ok:
			case c.Kind == fsm.KindTransition:
				m.add(Step[S, E]{From: s, Event: e, Kind: c.Kind, To: c.Leaf})
			case c.Kind == fsm.KindChoice:
				for _, l := range c.Leaves {
					m.add(Step[S, E]{From: s, Event: e, Kind: c.Kind, To: l})
				}
			default:
				m.add(Step[S, E]{From: s, Event: e, Kind: c.Kind, To: s})
			}
			m.cells[si*len(m.events)+ei] = [2]int{first, len(m.steps)}
		}
	}
	return m
}

func (m *model[S, E]) add(st Step[S, E]) {
	m.steps = append(m.steps, st)
	m.next = append(m.next, m.index[st.To])
}

// shortest returns, for every leaf, the step ending a shortest path to it
// from the initial leaf (-1 for the initial leaf and unreachable ones),
// and whether it is reachable. Ties go to the leaf found first, trying
// events in declaration order, so the result is deterministic.
func (m *model[S, E]) shortest() (via []int, reached []bool) {
	via = make([]int, len(m.states))
	reached = make([]bool, len(m.states))
	for i := range via {
		via[i] = -1
	}
	reached[m.initial] = true
	queue := []int{m.initial}
	for len(queue) > 0 {
		si := queue[0]
		queue = queue[1:]
		for ei := range m.events {
			r := m.cells[si*len(m.events)+ei]
			for c := r[0]; c < r[1]; c++ {
				if to := m.next[c]; m.steps[c].moves() && !reached[to] {
					reached[to], via[to] = true, c
					queue = append(queue, to)
				}
			}
		}
	}
	return via, reached
}

// pathTo rebuilds the path to si from the result of shortest.
func (m *model[S, E]) pathTo(via []int, si int) Path[S, E] {
	var steps []int
	for c := via[si]; c >= 0; c = via[m.index[m.steps[c].From]] {
		steps = append(steps, c)
	}
	p := Path[S, E]{States: []S{m.states[m.initial]}}
	for i := len(steps) - 1; i >= 0; i-- {
		st := m.steps[steps[i]]
		p.Events = append(p.Events, st.Event)
		p.States = append(p.States, st.To)
	}
	return p
}

// PathTo returns a shortest path of declared transitions from def's initial
// leaf to the leaf state; ok is false if state is not a leaf of def or
// cannot be reached. The path to the initial leaf is empty. A path through a
// Choice names the branch it takes in States; its events alone do not
// decide it.
func PathTo[S, E comparable](def *fsm.Definition[S, E], state S) (p Path[S, E], ok bool) {
	if def == nil {
		return p, false
	}
	if positional(def) {
		return newGraph(def).pathToLeaf(state)
	}
	m := newModel(def)
	si, ok := m.index[state]
	if !ok {
		return p, false
	}
	via, reached := m.shortest()
	if !reached[si] {
		return p, false
	}
	return m.pathTo(via, si), true
}

// Paths returns event sequences from def's initial leaf that together
// visit every reachable leaf and take every transition a rule declares, for
// every leaf it applies to (and every branch of a Choice): for each, in
// declaration order of its leaf and event, a shortest path to its source
// followed by its event. A path that is a prefix of another is left out,
// since the longer one covers it. A definition without transitions gets one
// empty path.
func Paths[S, E comparable](def *fsm.Definition[S, E]) []Path[S, E] {
	if def == nil {
		return nil
	}
	if positional(def) {
		return newGraph(def).paths()
	}
	m := newModel(def)
	via, reached := m.shortest()
	var all []Path[S, E]
	for _, st := range m.steps {
		from := m.index[st.From]
		if !st.moves() || !reached[from] {
			continue
		}
		p := m.pathTo(via, from)
		p.Events = append(p.Events, st.Event)
		p.States = append(p.States, st.To)
		all = append(all, p)
	}
	if len(all) == 0 {
		return []Path[S, E]{{States: []S{m.states[m.initial]}}}
	}
	return withoutPrefixes(all)
}

// withoutPrefixes leaves out the paths whose events are a prefix of
// another's.
func withoutPrefixes[S, E comparable](all []Path[S, E]) []Path[S, E] {
	var out []Path[S, E]
	for i, p := range all {
		covered := false
		for j, q := range all {
			if i != j && isPrefix(p.Events, q.Events) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}

// isPrefix reports whether p is a proper prefix of q.
func isPrefix[E comparable](p, q []E) bool {
	if len(p) >= len(q) {
		return false
	}
	for i := range p {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// Uncovered replays the events of each path from def's initial leaf over
// the definition's rules and returns the transition steps (see Paths) no
// path takes, in declaration order; nil means the paths cover every one.
// A path's States are consulted only to tell which branch of a Choice it
// took; its replay ends at an event that is not part of def, or at a
// branch its States do not name.
func Uncovered[S, E comparable](def *fsm.Definition[S, E], paths []Path[S, E]) []Step[S, E] {
	if def == nil {
		return nil
	}
	if positional(def) {
		return newGraph(def).uncovered(paths)
	}
	m := newModel(def)
	eventIdx := make(map[E]int, len(m.events))
	for i, e := range m.events {
		eventIdx[e] = i
	}
	taken := make([]bool, len(m.steps))
	for _, p := range paths {
		si := m.initial
	replay:
		for i, e := range p.Events {
			ei, ok := eventIdx[e]
			if !ok {
				break
			}
			r := m.cells[si*len(m.events)+ei]
			c := r[0]
			if r[1]-r[0] > 1 { // a choice: the path's States say which branch
				for c = r[0]; c < r[1]; c++ {
					if i+1 < len(p.States) && m.steps[c].To == p.States[i+1] {
						break
					}
				}
				if c == r[1] {
					break replay
				}
			}
			if c == r[1] { // a final leaf: nothing applies
				break
			}
			taken[c] = true
			si = m.next[c]
		}
	}
	var out []Step[S, E]
	for c, st := range m.steps {
		if st.moves() && !taken[c] {
			out = append(out, st)
		}
	}
	return out
}
