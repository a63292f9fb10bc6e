package fsm

// This file works out, once per definition, what every step exits and
// enters, so that a machine's step only walks precomputed slices.

// resolved returns the cell for the rule declared at state at for event ei,
// as it applies when si (at or a descendant of at) is active.
func (d *Definition[S, E]) resolved(si, at, ei int) cell[S, E] {
	x := &d.decl[at*len(d.events)+ei]
	c := cell[S, E]{kind: x.kind, at: at, internal: x.internal, reason: x.reason, action: x.action}
	switch x.kind {
	case KindTransition:
		c.plan = d.plan(si, at, x.to, ei, x.internal)
	case KindChoice:
		c.choice = x.choice
		for _, t := range x.targets {
			c.branches = append(c.branches, d.plan(si, at, t, ei, false))
		}
	case KindReject:
		c.rejected = &RejectedError{State: d.stateNames[si], Event: d.eventNames[ei], Reason: x.reason}
	}
	return c
}

// plan works out the transition declared at state at to target to, taken
// while active (at or a descendant of at) is active. Transitions are
// external, as in SCXML: the domain A is the nearest proper ancestor of at
// that is also a proper ancestor of to (or the root), every active state
// below A is exited, innermost first, and every state from below A down to
// to, and then to's initial descendants, is entered, outermost first. So a
// self-transition exits and re-enters its state, a transition to a
// descendant exits and re-enters the declaring state, and one to an
// ancestor exits and re-enters that ancestor. An internal transition's
// domain is at itself (to is a proper descendant of it, as Build checks):
// at stays active, only the states below it are exited and entered.
func (d *Definition[S, E]) plan(active, at, to, ei int, internal bool) plan[S] {
	// A history's transition is its composite's, but for what it enters
	// below the composite: that is known only at the step.
	tgt, hist := to, to >= len(d.states)
	if hist {
		tgt = d.hist[to-len(d.states)].composite
	}
	// A parallel state is never a domain (SCXML's least common compound
	// ancestor): a transition between two of its regions leaves it.
	dom := d.tree[at].parent
	for dom >= 0 && (dom == tgt || !d.ancestorOrSelf(dom, tgt) || d.tree[dom].parallel) {
		dom = d.tree[dom].parent
	}
	if internal {
		dom = at
	}
	p := plan[S]{to: to, leaf: d.tree[tgt].leaf, dom: int32(dom), dynamic: hist || d.parallel}
	for s := active; s != dom; s = d.tree[s].parent {
		p.exits = append(p.exits, exit{si: s, cause: &ExitError{State: d.stateNames[s], Event: d.eventNames[ei]}})
	}
	from := p.leaf
	if hist {
		from = tgt
	}
	for s := from; s != dom; s = d.tree[s].parent {
		p.enters = append(p.enters, int32(s))
	}
	for i, j := 0, len(p.enters)-1; i < j; i, j = i+1, j-1 {
		p.enters[i], p.enters[j] = p.enters[j], p.enters[i]
	}
	for _, x := range p.exits {
		p.exited = append(p.exited, Level[S]{State: d.states[x.si]})
	}
	for _, s := range p.enters {
		p.entered = append(p.entered, d.states[s])
	}
	if p.dynamic {
		// Worked out at the step: and with no enters, the step of one level
		// (transition1) never takes the plan.
		p.enters, p.entered = nil, nil
	}
	p.moves = []Move[S]{{From: d.states[active], To: d.states[p.leaf]}}
	return p
}

// emitScopes works out, for every state and event, the outermost state a
// task of the state surely leaves when it emits the event: exited by the
// rule that applies whichever leaf below the state is active. Emit cancels
// that state's tasks (and so its descendants') before it queues the event,
// so none of them takes another step with a live context.
func (v *validator[S, E]) emitScopes() {
	d := v.d
	nE := len(d.events)
	d.emitExit = make([]int32, len(d.states)*nE)
	d.emitCause = make([]*ExitError, len(d.states)*nE)
	leaves := make([][]int, len(d.states)) // the non-final leaves below each state
	for si := range d.states {
		if len(d.tree[si].children) > 0 || d.tree[si].final {
			continue
		}
		for s := si; s >= 0; s = d.tree[s].parent {
			leaves[s] = append(leaves[s], si)
		}
	}
	for si := range d.states {
		for ei := range nE {
			y := d.surelyLeft(si, ei, leaves[si])
			if d.parallel && d.underParallel(si) {
				// Another region's transition may win the step, or its
				// reject refuse it: nothing below a parallel state is
				// surely left.
				y = -1
			}
			d.emitExit[si*nE+ei] = int32(y)
			if y >= 0 {
				d.emitCause[si*nE+ei] = &ExitError{State: d.stateNames[y], Event: d.eventNames[ei]}
			}
		}
	}
}

// surelyLeft returns the outermost ancestor-or-self of si that every rule
// for ei applying to one of leaves exits, or -1.
func (d *Definition[S, E]) surelyLeft(si, ei int, leaves []int) int {
	if len(leaves) == 0 {
		return -1
	}
	nE := len(d.events)
	out, outDepth := -1, -1
	// outermost returns the outermost state p exits if it exits si, else -1.
	outermost := func(p plan[S]) int {
		for _, x := range p.exits {
			if x.si == si {
				return p.exits[len(p.exits)-1].si
			}
		}
		return -1
	}
	consider := func(p plan[S]) bool {
		o := outermost(p)
		if o < 0 {
			return false
		}
		if dep := d.tree[o].depth; out < 0 || dep > outDepth {
			out, outDepth = o, dep
		}
		return true
	}
	for _, l := range leaves {
		c := &d.cells[l*nE+ei]
		switch c.kind {
		case KindTransition:
			if !consider(c.plan) {
				return -1
			}
		default:
			// A choice is no sure exit either: one that picks an
			// undeclared target or panics rejects the step, and the
			// state stays, its tasks with it.
			return -1
		}
	}
	return out
}

// What follows resolves an event in a machine with parallel states, as SCXML
// does: every active leaf, in document order, resolves the event from
// itself upward; a Reject anywhere rejects the whole event, a Postpone
// anywhere else postpones it; the
// transitions found are taken together as one step, less those that
// conflict with one taken before them.

// stepRegions processes an event (not stale) in a definition with parallel
// states.
func (m *Machine[S, E]) stepRegions(it *item) error {
	d := m.def
	nE := len(d.events)
	scope := -1
	if it.fail {
		scope = int(it.si) // a failure resolves within the failure's scope
	}
	w := m.scratch()
	sels := w.sels[:0]
	defer func() { clear(sels); w.sels = sels[:0] }() // no pointers kept into a step over
	var ignored, postponed *cell[S, E]
	postponedAt := -1
	offered := func(l int) bool { // an active leaf the event is offered to
		return len(d.tree[l].children) == 0 && (scope < 0 || d.ancestorOrSelf(scope, l))
	}
	// Whether a region postpones the event is known before any choice
	// runs: none runs for an event kept whole, whatever the regions' order.
	anyPostpone := false
	for _, lv := range m.path {
		if l := int(lv.si); offered(l) && d.cells[l*nE+int(it.ev)].kind == KindPostpone {
			anyPostpone = true
			break
		}
	}
	for _, lv := range m.path {
		l := int(lv.si)
		if !offered(l) {
			continue
		}
		c := &d.cells[l*nE+int(it.ev)]
		switch c.kind {
		case KindIgnore:
			if ignored == nil {
				ignored = c
			}
		case KindReject:
			return m.rejectIn(c.rejected, c, it, l)
		case KindPostpone:
			if postponed == nil {
				postponed, postponedAt = c, l
			}
			continue
		case KindChoice:
			if anyPostpone {
				continue // no choice runs for an event postponed anyway
			}
			if chosen(sels, c.at) {
				continue // one rule, inherited by another leaf: taken once
			}
			p, rej := m.chooseIn(c, it, l)
			if rej != nil {
				return m.rejectIn(rej, c, it, l)
			}
			sels = append(sels, sel[S, E]{c: c, p: p, from: l})
		case KindTransition:
			sels = append(sels, sel[S, E]{c: c, p: &c.plan, from: l})
		}
	}
	if postponed != nil { // a rule of any region postpones the whole event
		return m.postpone(postponed, it, postponedAt)
	}
	sels = d.withoutConflicts(sels)
	if len(sels) == 0 {
		m.dispose(it.payload)
		if m.obs != nil && ignored != nil {
			leaf := d.states[m.cur]
			m.observe(Record[S, E]{Kind: RecordIgnored, From: leaf, To: leaf, State: d.states[ignored.at],
				Event: d.events[it.ev], Epoch: m.pubEpoch.Load(), Reason: ignored.reason, Payload: it.payload})
		}
		return nil
	}
	m.transitionSet(sels, int(it.ev), it.payload)
	return nil
}

// chosen reports whether sels holds the rule declared at state at: a rule
// that region leaves inherit from one state is one rule, whose choice runs
// once.
func chosen[S, E comparable](sels []sel[S, E], at int) bool {
	for _, s := range sels {
		if s.c.at == at {
			return true
		}
	}
	return false
}

// withoutConflicts drops the transitions that conflict with one before
// them, as SCXML's conflict resolution: two conflict when they would exit
// a common state (their domains are nested); the later one is dropped,
// unless the rule it comes from is declared below the earlier one's, in
// which case it preempts it (a region's own rule beats a rule inherited
// from the parallel state or above).
func (d *Definition[S, E]) withoutConflicts(sels []sel[S, E]) []sel[S, E] {
	if len(sels) <= 1 {
		return sels
	}
	out := sels[:0:0]
	for _, t1 := range sels {
		keep, drop := true, []int(nil)
		for i, t2 := range out {
			if !d.nestedDomains(int(t1.p.dom), int(t2.p.dom)) {
				continue
			}
			if t1.c.at != t2.c.at && d.ancestorOrSelf(t2.c.at, t1.c.at) {
				drop = append(drop, i)
				continue
			}
			keep = false
			break
		}
		if !keep {
			continue
		}
		for k := len(drop) - 1; k >= 0; k-- {
			out = append(out[:drop[k]], out[drop[k]+1:]...)
		}
		out = append(out, t1)
	}
	return out
}

// nestedDomains reports whether the states two transitions exit overlap:
// one domain is the other or below it (-1 is the root, above all).
func (d *Definition[S, E]) nestedDomains(a, b int) bool {
	return a < 0 || b < 0 || d.ancestorOrSelf(a, b) || d.ancestorOrSelf(b, a)
}

// rejectIn rejects an event of a machine with regions, in leaf l's rule.
func (m *Machine[S, E]) rejectIn(err *RejectedError, c *cell[S, E], it *item, l int) error {
	d := m.def
	m.dispose(it.payload)
	if m.obs != nil {
		leaf := d.states[l]
		m.observe(Record[S, E]{Kind: RecordRejected, From: leaf, To: leaf, State: d.states[c.at],
			Event: d.events[it.ev], Epoch: m.entryEpoch(l), Reason: err.Reason, Err: err, Payload: it.payload})
	}
	return err
}

// chooseIn is choose for the rule leaf l resolved.
func (m *Machine[S, E]) chooseIn(c *cell[S, E], it *item, l int) (*plan[S], *RejectedError) {
	cur := m.cur
	m.cur = int32(l) // choose names the leaf in its rejection
	p, rej := m.choose(c, it)
	m.cur = cur
	return p, rej
}
