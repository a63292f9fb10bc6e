package fsm

// This file validates what makes a configuration more than a path:
// history pseudo-states.

// histories indexes the history pseudo-states: each a value not listed in
// States, declared once, of a known composite state.
func (v *validator[S, E]) histories() {
	d := v.d
	d.histIdx = make(map[S]int, len(v.b.history))
	d.remember = make([]bool, len(d.states))
	for _, h := range v.b.history {
		ci, ok := d.stateIdx[h.composite]
		_, listed := d.stateIdx[h.history]
		_, dup := d.histIdx[h.history]
		switch {
		case listed:
			v.add("history %v of %v is listed in States: a history is a pseudo-state, not a state", h.history, h.composite)
		case dup:
			v.add("history %v declared twice", h.history)
		case !ok:
			v.add("history %v: unknown composite state %v", h.history, h.composite)
		case len(d.tree[ci].children) == 0:
			v.add("history %v of %v: %v has no children: a history belongs to a composite state", h.history, h.composite, h.composite)
		case h.kind != Shallow && h.kind != Deep:
			v.add("history %v of %v: kind %v is neither Shallow nor Deep", h.history, h.composite, h.kind)
		default:
			d.histIdx[h.history] = len(d.hist)
			d.hist = append(d.hist, histDef[S]{state: h.history, composite: ci, kind: h.kind})
			d.remember[ci] = true
		}
	}
}

// target resolves a rule's target: a state's index, or len(states) plus a
// history's index.
func (v *validator[S, E]) target(s S) (int, bool) {
	d := v.d
	if si, ok := d.stateIdx[s]; ok {
		return si, true
	}
	if hi, ok := d.histIdx[s]; ok {
		return len(d.states) + hi, true
	}
	return 0, false
}

// below reports whether target t may be the target of an internal
// transition declared at si: a proper descendant of si, or a history of si
// or of one of its descendants.
func (v *validator[S, E]) below(si, t int) bool {
	d := v.d
	if t >= len(d.states) {
		return d.ancestorOrSelf(si, d.hist[t-len(d.states)].composite)
	}
	return t != si && d.ancestorOrSelf(si, t)
}

// documentOrder numbers the states in document order: a pre-order walk of
// the tree, top-level states and children in declaration order. Entries
// follow it; exits run against it.
func (v *validator[S, E]) documentOrder() {
	d := v.d
	d.doc = make([]int32, len(d.states))
	d.byDoc = make([]int32, 0, len(d.states))
	var visit func(si int)
	visit = func(si int) {
		d.doc[si] = int32(len(d.byDoc))
		d.byDoc = append(d.byDoc, int32(si))
		for _, k := range d.tree[si].children {
			visit(k)
		}
	}
	for si := range d.states {
		if d.tree[si].parent < 0 {
			visit(si)
		}
	}
}

// regions checks the parallel states, once the tree is linked: every region
// is a composite state. It works out the start configuration: the initial
// state, its ancestors and its default entries, every region of a parallel
// state among them, in document order.
func (v *validator[S, E]) regions() {
	d := v.d
	for pi := range d.states {
		if !d.tree[pi].parallel {
			continue
		}
		for _, r := range d.tree[pi].children {
			if len(d.tree[r].children) == 0 {
				v.add("region %s of %s has no initial child: a region is a composite state (declare its Children)",
					d.stateNames[r], d.stateNames[pi])
			}
		}
		d.levels = len(d.states) // a configuration may hold every state
	}
	if len(d.states) == 0 {
		return
	}
	enterer := make([]int, len(d.states))
	d.entrySet(-1, []int{d.initial}, enterer, 1)
	d.start, d.startStates = nil, nil
	v.documentOrder()
	for _, si := range d.byDoc {
		if enterer[si] != 0 {
			d.start = append(d.start, si)
			d.startStates = append(d.startStates, d.states[si])
		}
	}
}

// underParallel reports whether a proper ancestor of si is parallel.
func (d *Definition[S, E]) underParallel(si int) bool {
	for p := d.tree[si].parent; p >= 0; p = d.tree[p].parent {
		if d.tree[p].parallel {
			return true
		}
	}
	return false
}

// planLeaves returns the leaves p enters by default (a history as its
// composite's initial configuration).
func (d *Definition[S, E]) planLeaves(p *plan[S]) []int {
	t := p.to
	if t >= len(d.states) {
		t = d.hist[t-len(d.states)].composite
	}
	enterer := make([]int, len(d.states))
	d.entrySet(int(p.dom), []int{t}, enterer, 1)
	var out []int
	for si, e := range enterer {
		if e != 0 && len(d.tree[si].children) == 0 {
			out = append(out, si)
		}
	}
	return out
}

// exitCauses makes, for a definition whose steps are worked out at the
// step, the cause each state's tasks see when an event exits it, once.
func (v *validator[S, E]) exitCauses() {
	d := v.d
	if !d.parallel && len(d.hist) == 0 {
		return
	}
	d.exitCause = make([]*ExitError, len(d.states)*len(d.events))
	for si := range d.states {
		for ei := range d.events {
			d.exitCause[si*len(d.events)+ei] = &ExitError{State: d.stateNames[si], Event: d.eventNames[ei]}
		}
	}
}
