package fsmtest

import (
	"fmt"
	"strings"

	"github.com/connfsm/connfsm/fsm"
)

// Step is one event applied to a state, as the definition's table decides
// it.
type Step[S, E comparable] struct {
	From  S
	Event E
	Kind  fsm.Kind
	To    S // equals From unless Kind is fsm.KindTransition
}

// String formats the step as "From --Event--> To", or with "(ignore)" or
// "(reject)" in place of To.
func (s Step[S, E]) String() string {
	if s.Kind == fsm.KindTransition {
		return fmt.Sprintf("%v --%v--> %v", s.From, s.Event, s.To)
	}
	return fmt.Sprintf("%v --%v--> (%v)", s.From, s.Event, s.Kind)
}

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

// model is a definition's table indexed by position, for walking it fast.
type model[S, E comparable] struct {
	states  []S
	events  []E
	index   map[S]int
	initial int
	steps   []Step[S, E] // len(states)*len(events), row-major by state
	next    []int        // the state index each step leads to
}

func newModel[S, E comparable](def *fsm.Definition[S, E]) *model[S, E] {
	m := &model[S, E]{states: def.States(), events: def.Events()}
	m.index = make(map[S]int, len(m.states))
	for i, s := range m.states {
		m.index[s] = i
	}
	m.initial = m.index[def.Initial()]
	nE := len(m.events)
	m.steps = make([]Step[S, E], len(m.states)*nE)
	m.next = make([]int, len(m.steps))
	for si, s := range m.states {
		for ei, e := range m.events {
			c, _ := def.Cell(s, e) // every declared pair exists in a built definition
			st := Step[S, E]{From: s, Event: e, Kind: c.Kind, To: s}
			next := si
			if c.Kind == fsm.KindTransition {
				st.To, next = c.To, m.index[c.To]
			}
			m.steps[si*nE+ei], m.next[si*nE+ei] = st, next
		}
	}
	return m
}

// shortest returns, for every state, the last step of a shortest path to it
// from the initial state (-1 for the initial state and unreachable ones),
// and whether it is reachable. Ties go to the state found first, trying
// events in declaration order, so the result is deterministic.
func (m *model[S, E]) shortest() (via []int, reached []bool) {
	nE := len(m.events)
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
		for ei := range nE {
			c := si*nE + ei
			if to := m.next[c]; m.steps[c].Kind == fsm.KindTransition && !reached[to] {
				reached[to], via[to] = true, c
				queue = append(queue, to)
			}
		}
	}
	return via, reached
}

// pathTo rebuilds the path to si from the result of shortest.
func (m *model[S, E]) pathTo(via []int, si int) Path[S, E] {
	var cells []int
	for c := via[si]; c >= 0; c = via[c/len(m.events)] { // a cell's row is its source state
		cells = append(cells, c)
	}
	p := Path[S, E]{States: []S{m.states[m.initial]}}
	for i := len(cells) - 1; i >= 0; i-- {
		st := m.steps[cells[i]]
		p.Events = append(p.Events, st.Event)
		p.States = append(p.States, st.To)
	}
	return p
}

// PathTo returns a shortest path of declared transitions from def's initial
// state to state; ok is false if state is not a state of def or cannot be
// reached. The path to the initial state is empty.
func PathTo[S, E comparable](def *fsm.Definition[S, E], state S) (p Path[S, E], ok bool) {
	if def == nil {
		return p, false
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

// Paths returns event sequences from def's initial state that together
// visit every reachable state and take every declared transition: for each
// transition, in declaration order of its state and event, a shortest path
// to its source followed by its event. A path that is a prefix of another is
// left out, since the longer one covers it. A definition without transitions
// gets one empty path.
func Paths[S, E comparable](def *fsm.Definition[S, E]) []Path[S, E] {
	if def == nil {
		return nil
	}
	m := newModel(def)
	via, reached := m.shortest()
	var all []Path[S, E]
	for c, st := range m.steps {
		from := c / len(m.events)
		if st.Kind != fsm.KindTransition || !reached[from] {
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

// Uncovered replays the events of each path from def's initial state over
// the definition's table and returns the declared transitions no path
// takes, in declaration order; nil means the paths cover every transition.
// A path's States are not consulted, and its replay ends at an event that is
// not part of def.
func Uncovered[S, E comparable](def *fsm.Definition[S, E], paths []Path[S, E]) []Step[S, E] {
	if def == nil {
		return nil
	}
	m := newModel(def)
	eventIdx := make(map[E]int, len(m.events))
	for i, e := range m.events {
		eventIdx[e] = i
	}
	taken := make([]bool, len(m.steps))
	for _, p := range paths {
		si := m.initial
		for _, e := range p.Events {
			ei, ok := eventIdx[e]
			if !ok {
				break
			}
			c := si*len(m.events) + ei
			taken[c] = true
			si = m.next[c]
		}
	}
	var out []Step[S, E]
	for c, st := range m.steps {
		if st.Kind == fsm.KindTransition && !taken[c] {
			out = append(out, st)
		}
	}
	return out
}
