package fsmtest

import (
	"github.com/connfsm/connfsm/fsm"
)

// This file walks definitions whose machines are more than a leaf: with
// parallel states (several active leaves) or histories (a leaf that depends
// on what was left before). Their steps are taken over fsm.Positions with
// Definition.Next; the search is over configurations, not leaves.

// positional reports whether def must be walked over positions.
func positional[S, E comparable](def *fsm.Definition[S, E]) bool {
	if len(def.Histories()) > 0 {
		return true
	}
	for _, s := range def.States() {
		if def.IsParallel(s) {
			return true
		}
	}
	return false
}

// stepKey identifies a declared transition step: taken from a leaf on an
// event to a declared target (a choice's branch, or a history).
type stepKey[S, E comparable] struct {
	from   S
	event  E
	target S
}

// graph is a definition's reachable positions, breadth first from the
// start, with the first step that took each declared transition.
type graph[S, E comparable] struct {
	def     *fsm.Definition[S, E]
	m       *model[S, E] // the declared steps, by leaf, event, branch
	targets []S          // per step of m: its declared target
	index   map[stepKey[S, E]]int
	nodes   []gnode[S]
	seen    map[string]int
	witness []int // per step of m: the node whose step took it first, -1 if none
	wEvent  []E   // the event of that step
	wTo     []int // the node it led to
}

type gnode[S comparable] struct {
	pos    fsm.Position[S]
	parent int // -1 for the start
	event  int // index of the event from the parent
}

// maxPositions bounds the search: a definition with more reachable
// positions is walked as far as this.
const maxPositions = 1 << 16

func newGraph[S, E comparable](def *fsm.Definition[S, E]) *graph[S, E] {
	g := &graph[S, E]{def: def, m: newModel(def), index: map[stepKey[S, E]]int{}, seen: map[string]int{}}
	g.targets = make([]S, len(g.m.steps))
	for _, r := range g.m.cells {
		for i := r[0]; i < r[1]; i++ {
			st := g.m.steps[i]
			if !st.moves() {
				continue
			}
			c, _ := def.Cell(st.From, st.Event)
			t := c.To
			if st.Kind == fsm.KindChoice {
				t = c.Choice.Targets[i-r[0]]
			}
			g.targets[i] = t
			g.index[stepKey[S, E]{st.From, st.Event, t}] = i
		}
	}
	g.witness = make([]int, len(g.m.steps))
	g.wEvent = make([]E, len(g.m.steps))
	g.wTo = make([]int, len(g.m.steps))
	for i := range g.witness {
		g.witness[i] = -1
	}
	g.add(def.StartPosition(), -1, -1)
	for n := 0; n < len(g.nodes) && len(g.nodes) < maxPositions; n++ {
		pos := g.nodes[n].pos
		for ei, e := range g.m.events {
			for _, s := range def.Next(pos, e) {
				to := g.add(s.To, n, ei)
				for _, i := range g.takes(pos, e, s) {
					if g.witness[i] < 0 {
						g.witness[i], g.wEvent[i], g.wTo[i] = n, e, to
					}
				}
			}
		}
	}
	return g
}

// takes returns the declared steps successor s of pos takes on e: each
// move's, and, for a rule inherited by the leaves of several regions (so
// taken once, from the first), the same rule's step from every other
// active leaf it applies to.
func (g *graph[S, E]) takes(pos fsm.Position[S], e E, s fsm.Successor[S]) []int {
	var out []int
	for k, mv := range s.Moves {
		c, _ := g.def.Cell(mv.From, e)
		for _, l := range pos.Leaves() {
			if l != mv.From {
				if lc, ok := g.def.Cell(l, e); !ok || lc.At != c.At {
					continue
				}
			}
			if i, ok := g.index[stepKey[S, E]{l, e, s.Targets[k]}]; ok {
				out = append(out, i)
			}
		}
	}
	return out
}

// add adds pos, reached from node parent by event ei, if it is new, and
// returns its node.
func (g *graph[S, E]) add(pos fsm.Position[S], parent, ei int) int {
	if n, ok := g.seen[pos.Key()]; ok {
		return n
	}
	g.seen[pos.Key()] = len(g.nodes)
	g.nodes = append(g.nodes, gnode[S]{pos: pos, parent: parent, event: ei})
	return len(g.nodes) - 1
}

// pathTo is the path of events from the start to node n; States holds
// each position's State.
func (g *graph[S, E]) pathTo(n int) Path[S, E] {
	var chain []int
	for ; n >= 0; n = g.nodes[n].parent {
		chain = append(chain, n)
	}
	var p Path[S, E]
	for i := len(chain) - 1; i >= 0; i-- {
		nd := g.nodes[chain[i]]
		if nd.parent >= 0 {
			p.Events = append(p.Events, g.m.events[nd.event])
		}
		p.States = append(p.States, nd.pos.State())
	}
	return p
}

func (g *graph[S, E]) pathToLeaf(state S) (Path[S, E], bool) {
	for n, nd := range g.nodes {
		for _, l := range nd.pos.Leaves() {
			if l == state {
				return g.pathTo(n), true
			}
		}
	}
	return Path[S, E]{}, false
}

func (g *graph[S, E]) paths() []Path[S, E] {
	var all []Path[S, E]
	for i := range g.m.steps {
		if g.witness[i] < 0 {
			continue
		}
		p := g.pathTo(g.witness[i])
		p.Events = append(p.Events, g.wEvent[i])
		p.States = append(p.States, g.nodes[g.wTo[i]].pos.State())
		all = append(all, p)
	}
	if len(all) == 0 {
		return []Path[S, E]{{States: []S{g.nodes[0].pos.State()}}}
	}
	return withoutPrefixes(all)
}

// uncovered replays paths over positions and returns the declared
// transition steps none takes.
func (g *graph[S, E]) uncovered(paths []Path[S, E]) []Step[S, E] {
	taken := make([]bool, len(g.m.steps))
	for _, p := range paths {
		pos := g.def.StartPosition()
		for i, e := range p.Events {
			next := g.def.Next(pos, e)
			if len(next) == 0 {
				break
			}
			s := next[0]
			if len(next) > 1 { // choices: the path's States say which branch
				found := false
				for _, c := range next {
					if i+1 < len(p.States) && c.To.State() == p.States[i+1] {
						s, found = c, true
						break
					}
				}
				if !found {
					break
				}
			}
			for _, c := range g.takes(pos, e, s) {
				taken[c] = true
			}
			pos = s.To
		}
	}
	var out []Step[S, E]
	for c, st := range g.m.steps {
		if st.moves() && !taken[c] {
			out = append(out, st)
		}
	}
	return out
}

// positionStep is the Step Explore records for a successor of pos: From
// and To are the first move's (or pos's State), Moves every move.
func positionStep[S, E comparable](pos fsm.Position[S], e E, s fsm.Successor[S]) Step[S, E] {
	st := Step[S, E]{From: pos.State(), Event: e, Kind: s.Kind, To: s.To.State(), Moves: s.Moves}
	if len(s.Moves) > 0 {
		st.From, st.To = s.Moves[0].From, s.Moves[0].To
	}
	return st
}

// explorePositions is Explore over positions.
func explorePositions[S, E comparable](def *fsm.Definition[S, E], depth int, check func(Trace[S, E]) error) error {
	events := def.Events()
	buf := make(Trace[S, E], depth)
	var walk func(pos fsm.Position[S], d int) error
	walk = func(pos fsm.Position[S], d int) error {
		if d == depth || pos.Final() {
			return nil
		}
		for _, e := range events {
			for _, s := range def.Next(pos, e) {
				buf[d] = positionStep(pos, e, s)
				tr := buf[: d+1 : d+1]
				if err := check(tr); err != nil {
					return &ExploreError[S, E]{Trace: append(Trace[S, E](nil), tr...), Err: err}
				}
				if err := walk(s.To, d+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(def.StartPosition(), 0)
}
