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
		case !ok: // stateEvent reported it
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

// reachable reports the leaves no sequence of declared transitions leads
// to from the initial state.
func (v *validator[S, E]) reachable() {
	d := v.d
	nE := len(d.events)
	seen := make([]bool, len(d.states))
	var work []int
	visit := func(leaf int) {
		if !seen[leaf] {
			seen[leaf] = true
			work = append(work, leaf)
		}
	}
	for _, s := range d.start {
		if len(d.tree[s].children) == 0 {
			visit(int(s))
		}
	}
	// With regions, a plan enters a leaf in every region it enters.
	visitPlan := func(p *plan[S]) {
		if !d.parallel {
			visit(p.leaf)
			return
		}
		for _, l := range d.planLeaves(p) {
			visit(l)
		}
	}
	// A shallow history re-enters the child last active, by default below
	// it: that child's initial leaves are reachable once any leaf under it
	// is, though no transition may target them.
	var shallow []*plan[S]
	visitTarget := func(p *plan[S]) {
		visitPlan(p)
		if h := p.to - len(d.states); h >= 0 && d.hist[h].kind == Shallow {
			shallow = append(shallow, p)
		}
	}
	for len(work) > 0 {
		for len(work) > 0 {
			s := work[len(work)-1]
			work = work[:len(work)-1]
			if d.tree[s].final {
				continue // the machine stops there: no event leads on
			}
			for ei := range nE {
				c := &d.cells[s*nE+ei]
				switch c.kind {
				case KindTransition:
					visitTarget(&c.plan)
				case KindChoice:
					for i := range c.branches {
						visitTarget(&c.branches[i])
					}
				}
			}
		}
		for _, p := range shallow {
			for _, child := range d.tree[d.hist[p.to-len(d.states)].composite].children {
				if d.someLeafUnder(child, seen) {
					for _, l := range d.planLeaves(&plan[S]{to: child, dom: p.dom}) {
						visit(l)
					}
				}
			}
		}
	}
	for si, ok := range seen {
		if !ok && len(d.tree[si].children) == 0 {
			v.add("state %s is unreachable from %s", d.stateNames[si], d.stateNames[d.initial])
		}
	}
}

// someLeafUnder reports whether a leaf at or below s is marked in seen.
func (d *Definition[S, E]) someLeafUnder(s int, seen []bool) bool {
	if len(d.tree[s].children) == 0 {
		return seen[s]
	}
	for _, k := range d.tree[s].children {
		if d.someLeafUnder(k, seen) {
			return true
		}
	}
	return false
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

// What follows attaches what states own: hooks, tasks, failure events and
// timeouts.

// hooks attaches enter and exit hooks to their states.
func (v *validator[S, E]) hooks() {
	d := v.d
	d.per = make([]stateDef[S, E], len(d.states))
	for _, h := range v.b.hooks {
		si, ok := d.stateIdx[h.state]
		kind := "exit"
		if h.enter {
			kind = "enter"
		}
		switch {
		case !ok: // stateEvent reported it
			v.add("%s hook for unknown state %v", kind, h.state)
		case h.fn == nil:
			v.add("%s hook for %v is nil", kind, h.state)
		case h.enter:
			d.per[si].enter = append(d.per[si].enter, h.fn)
			d.hooked = true
		default:
			d.per[si].exit = append([]Hook[S, E]{h.fn}, d.per[si].exit...)
			d.hooked = true
		}
	}
}

// tasks attaches tasks to their states and marks the states whose entries
// need a scope: those with tasks and their ancestors, whose contexts the
// tasks' contexts end with.
func (v *validator[S, E]) tasks() {
	d := v.d
	for _, t := range v.b.tasks {
		si, ok := d.stateIdx[t.state]
		switch {
		case !ok: // stateEvent reported it
			v.add("task %q for unknown state %v", t.name, t.state)
		case t.name == "":
			v.add("task of %v has no name", t.state)
		case t.fn == nil && t.step == nil:
			v.add("task %q of %v is nil", t.name, t.state)
		case d.tree[si].final:
			v.add("task %q of %v: %v is final: nothing runs in it", t.name, t.state, t.state)
		default:
			for _, other := range d.per[si].tasks {
				if other.name == t.name {
					v.add("task %q of %v declared twice", t.name, t.state)
				}
			}
			d.per[si].tasks = append(d.per[si].tasks, taskDef[S, E]{name: t.name, fn: t.fn, step: t.step})
			for s := si; s >= 0; s = d.tree[s].parent {
				d.tree[s].scoped = true
			}
		}
	}
}

// stateEvent returns the indexes of a declaration's state and event, or
// reports an unknown one, naming the declaration what.
func (v *validator[S, E]) stateEvent(what string, s S, e E) (si, ei int, ok bool) {
	si, okS := v.d.stateIdx[s]
	ei, okE := v.d.eventIdx[e]
	switch {
	case !okS:
		v.add("%s for unknown state %v", what, s)
	case !okE:
		v.add("%s of %v: unknown event %v", what, s, e)
	}
	return si, ei, okS && okE
}

// failures records each state's failure event and resolves the inherited
// ones.
func (v *validator[S, E]) failures() {
	d := v.d
	own := make([]int, len(d.states))
	for i := range own {
		own[i] = -1
	}
	for _, f := range v.b.fails {
		si, ei, ok := v.stateEvent("failure event", f.state, f.event)
		switch {
		case !ok: // stateEvent reported it
		case own[si] >= 0:
			v.add("failure event of %v declared twice", f.state)
		default:
			own[si] = ei
		}
	}
	for si := range d.per {
		d.per[si].fail, d.per[si].failAt = -1, -1
		for s := si; s >= 0; s = d.tree[s].parent {
			if own[s] >= 0 {
				d.per[si].fail, d.per[si].failAt = own[s], s
				break
			}
		}
	}
	v.failuresLeave()
}

// timeouts attaches state timeouts to their states.
func (v *validator[S, E]) timeouts() {
	d := v.d
	for _, t := range v.b.timeouts {
		si, ei, ok := v.stateEvent("timeout", t.state, t.event)
		switch {
		case !ok: // stateEvent reported it
		case d.tree[si].final:
			v.add("timeout of %v: %v is final: nothing fires in it", t.state, t.state)
		case t.byFn && t.fn == nil:
			v.add("timeout function of %v on %v is nil", t.state, t.event)
		case t.fn == nil && t.after <= 0:
			v.add("timeout of %v on %v: duration %v must be positive", t.state, t.event, t.after)
		default:
			d.per[si].timeouts = append(d.per[si].timeouts, timeoutDef[S, E]{after: t.after, fn: t.fn, what: t.what, event: ei})
			d.hooked = d.hooked || t.fn != nil // a duration function is user code
		}
	}
}

// failuresLeave reports a failure event whose transition, from a leaf
// below the state declaring it, enters states without leaving that state.
// A failure cancels every task of its scope before the event is processed:
// a state entered below the scope would start its tasks with a dead
// context. (An ignored or rejected failure event keeps the scope as it is,
// its tasks cancelled, as a failure without a failure event does.)
func (v *validator[S, E]) failuresLeave() {
	d := v.d
	nE := len(d.events)
	if d.cells == nil {
		return
	}
	for f := range d.states {
		if d.per[f].failAt != f || !d.tree[f].scoped {
			continue
		}
		ei := d.per[f].fail
		for l := range d.states {
			if len(d.tree[l].children) > 0 || d.tree[l].final || !d.ancestorOrSelf(f, l) {
				continue
			}
			c := &d.cells[l*nE+ei]
			keeps := ""
			switch c.kind {
			case KindTransition:
				if !d.exitsState(c.plan.dom, f) {
					keeps = "its transition to " + d.targetText(c.plan.to)
				}
			case KindChoice:
				for _, b := range c.branches {
					if !d.exitsState(b.dom, f) {
						keeps = "its choice's branch to " + d.targetText(b.to)
						break
					}
				}
			}
			if keeps != "" {
				v.add("failure event %s of %s: in %s, %s stays in %s, whose tasks the failure has cancelled: what it enters would start cancelled (leave %s, or ignore the event)",
					d.eventNames[ei], d.stateNames[f], d.stateNames[l], keeps, d.stateNames[f], d.stateNames[f])
			}
		}
	}
}

// exitsState reports whether a transition with domain dom exits state s.
func (d *Definition[S, E]) exitsState(dom int32, s int) bool {
	return int(dom) != s && (dom < 0 || d.ancestorOrSelf(int(dom), s))
}
