package fsm

import (
	"slices"
	"strconv"
	"strings"
)

// This file steps a definition's rules without a machine: a Position is
// what a machine would be in, and Next what an event would make of it.
// fsmtest walks definitions with it.

// Position is where a machine of a definition is, as a value: its active
// states and what the composites with a history remember. Nothing runs in
// a Position; Definition.Next steps it. Two positions of one definition are
// the same if their Keys are equal.
type Position[S comparable] struct {
	active []int32   // the active states, in document order
	memory [][]int32 // per composite with a history: the leaves it last left
	key    string
	conf   []S
	leaves []S
	final  bool
}

// Configuration returns the active states in document order, as
// Machine.Configuration does.
func (p Position[S]) Configuration() []S { return append([]S(nil), p.conf...) }

// Leaves returns the active leaves in document order: one without parallel
// states, one per active region with them.
func (p Position[S]) Leaves() []S { return append([]S(nil), p.leaves...) }

// State returns the first active leaf in document order, as Machine.State.
func (p Position[S]) State() S {
	if len(p.leaves) == 0 {
		var zero S
		return zero
	}
	return p.leaves[0]
}

// Final reports whether a final state is active: a machine stops there and
// Next offers no step.
func (p Position[S]) Final() bool { return p.final }

// Key identifies the position: equal for the same active states and the
// same remembered histories.
func (p Position[S]) Key() string { return p.key }

// Successor is one way an event can go from a Position.
type Successor[S comparable] struct {
	// Kind is KindTransition if some transition was taken (KindChoice if a
	// choice picked one of them), else KindIgnore, KindReject or
	// KindPostpone (the event is held by a machine, which a Position does
	// not model: the position stays as it is).
	Kind Kind
	// Moves are the transitions taken, in document order of the leaves
	// they were taken from, as Record.Moves.
	Moves []Move[S]
	// Targets holds, for each of Moves, the target its rule declares (the
	// branch a choice took; a history, not the leaf it led to).
	Targets []S
	// To is the position after the step: the same one for an ignore or a
	// reject.
	To Position[S]
}

// StartPosition returns the position a machine of d starts in.
func (d *Definition[S, E]) StartPosition() Position[S] {
	return d.position(append([]int32(nil), d.start...), nil)
}

// position makes the Position of the active states (document order) and
// memory.
func (d *Definition[S, E]) position(active []int32, memory [][]int32) Position[S] {
	p := Position[S]{active: active, memory: memory}
	var b strings.Builder
	for _, s := range active {
		b.WriteString(strconv.Itoa(int(s)))
		b.WriteByte(',')
		p.conf = append(p.conf, d.states[s])
		if len(d.tree[s].children) == 0 {
			p.leaves = append(p.leaves, d.states[s])
			p.final = p.final || d.tree[s].final
		}
	}
	for si, mem := range memory {
		if len(mem) == 0 {
			continue
		}
		b.WriteString("|" + strconv.Itoa(si) + ":")
		for _, l := range mem {
			b.WriteString(strconv.Itoa(int(l)) + ",")
		}
	}
	p.key = b.String()
	return p
}

// Next returns what event does at pos, as a machine of d would take the
// step, without running anything: one Successor, or one per combination of
// the branches of the choices that apply (in declaration order of their
// targets), each distinct step given once (a choice that another region's
// rule preempts adds none). It returns nil at a final position, for an event not in d, or
// for a Position not made by d.
func (d *Definition[S, E]) Next(pos Position[S], event E) []Successor[S] {
	ei, ok := d.eventIdx[event]
	if !ok || pos.final || len(pos.active) == 0 {
		return nil
	}
	for _, s := range pos.active {
		if int(s) >= len(d.states) {
			return nil
		}
	}
	nE := len(d.events)
	var opts [][]sel[S, E] // per leaf that transitions: its choices
	ignored, postponed := false, false
	for _, s := range pos.active {
		l := int(s)
		if len(d.tree[l].children) > 0 {
			continue
		}
		c := &d.cells[l*nE+ei]
		switch c.kind {
		case KindIgnore:
			ignored = true
		case KindReject:
			return []Successor[S]{{Kind: KindReject, To: pos}}
		case KindPostpone:
			postponed = true
		case KindTransition:
			opts = append(opts, []sel[S, E]{{c: c, p: &c.plan, from: l}})
		case KindChoice:
			if inherited(opts, c.at) {
				continue // one rule, inherited by another leaf: taken once
			}
			var o []sel[S, E]
			for i := range c.branches {
				o = append(o, sel[S, E]{c: c, p: &c.branches[i], from: l})
			}
			opts = append(opts, o)
		}
	}
	if postponed { // a rule of any region postpones the whole event
		return []Successor[S]{{Kind: KindPostpone, To: pos}}
	}
	if len(opts) == 0 {
		if !ignored {
			return nil
		}
		return []Successor[S]{{Kind: KindIgnore, To: pos}}
	}
	var out []Successor[S]
	pick := make([]int, len(opts))
	for {
		sels := make([]sel[S, E], len(opts))
		for i, o := range opts {
			sels[i] = o[pick[i]]
		}
		// A choice that another region's rule preempts is not taken: its
		// branches lead to one successor, given once.
		if s := d.apply(pos, d.withoutConflicts(sels)); !slices.ContainsFunc(out, s.same) {
			out = append(out, s)
		}
		i := len(pick) - 1
		for ; i >= 0; i-- {
			if pick[i]++; pick[i] < len(opts[i]) {
				break
			}
			pick[i] = 0
		}
		if i < 0 {
			return out
		}
	}
}

// same reports whether s and t are the same step: the same transitions to
// the same targets, leading to the same position.
func (s Successor[S]) same(t Successor[S]) bool {
	return s.Kind == t.Kind && slices.Equal(s.Moves, t.Moves) && slices.Equal(s.Targets, t.Targets) && s.To.Key() == t.To.Key()
}

// inherited reports whether opts holds the choice declared at state at.
func inherited[S, E comparable](opts [][]sel[S, E], at int) bool {
	for _, o := range opts {
		if o[0].c.at == at {
			return true
		}
	}
	return false
}

// apply takes sels, without conflicts, at pos: what transitionSet does to
// a machine's configuration and memory, and nothing else.
func (d *Definition[S, E]) apply(pos Position[S], sels []sel[S, E]) Successor[S] {
	if len(sels) == 0 {
		return Successor[S]{Kind: KindIgnore, To: pos}
	}
	exiting := make([]bool, len(pos.active))
	for _, s := range sels {
		dom := int(s.p.dom)
		for j, a := range pos.active {
			if si := int(a); si != dom && (dom < 0 || d.ancestorOrSelf(dom, si)) {
				exiting[j] = true
			}
		}
	}
	memory := pos.memory
	if len(d.hist) > 0 {
		memory = make([][]int32, len(d.states))
		copy(memory, pos.memory)
		for j, a := range pos.active {
			if !exiting[j] || !d.remember[a] {
				continue
			}
			var mem []int32
			for _, b := range pos.active[j+1:] {
				if len(d.tree[b].children) == 0 && d.ancestorOrSelf(int(a), int(b)) {
					mem = append(mem, b)
				}
			}
			memory[a] = mem
		}
	}
	enterer := make([]int, len(d.states))
	for j, a := range pos.active {
		if !exiting[j] {
			enterer[a] = -1
		}
	}
	succ := Successor[S]{Kind: KindTransition, Moves: make([]Move[S], len(sels))}
	for k, s := range sels {
		d.entrySet(int(s.p.dom), d.targets(s.p, memory), enterer, k+1)
		succ.Targets = append(succ.Targets, d.target(s.p.to))
		if s.c.kind == KindChoice {
			succ.Kind = KindChoice
		}
	}
	var active []int32
	for _, si := range d.byDoc {
		e := enterer[si]
		if e != 0 {
			active = append(active, si)
		}
		if k := e - 1; k >= 0 && len(d.tree[si].children) == 0 && succ.Moves[k] == (Move[S]{}) {
			succ.Moves[k] = Move[S]{From: d.states[sels[k].from], To: d.states[si]}
		}
	}
	succ.To = d.position(active, memory)
	return succ
}
