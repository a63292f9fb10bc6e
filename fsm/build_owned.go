package fsm

// This file attaches what states own: hooks, tasks, failure events and
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
		case !ok:
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
// tasks' contexts derive from.
func (v *validator[S, E]) tasks() {
	d := v.d
	for _, t := range v.b.tasks {
		si, ok := d.stateIdx[t.state]
		switch {
		case !ok:
			v.add("task %q for unknown state %v", t.name, t.state)
		case t.name == "":
			v.add("task of %v has no name", t.state)
		case t.fn == nil:
			v.add("task %q of %v is nil", t.name, t.state)
		case d.tree[si].final:
			v.add("task %q of %v: %v is final: nothing runs in it", t.name, t.state, t.state)
		default:
			for _, other := range d.per[si].tasks {
				if other.name == t.name {
					v.add("task %q of %v declared twice", t.name, t.state)
				}
			}
			d.per[si].tasks = append(d.per[si].tasks, taskDef[S, E]{name: t.name, fn: t.fn})
			for s := si; s >= 0; s = d.tree[s].parent {
				d.tree[s].scoped = true
			}
		}
	}
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
		si, okS := d.stateIdx[f.state]
		ei, okE := d.eventIdx[f.event]
		switch {
		case !okS:
			v.add("failure event for unknown state %v", f.state)
		case !okE:
			v.add("failure event of %v: unknown event %v", f.state, f.event)
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
		si, okS := d.stateIdx[t.state]
		ei, okE := d.eventIdx[t.event]
		switch {
		case !okS:
			v.add("timeout for unknown state %v", t.state)
		case !okE:
			v.add("timeout of %v: unknown event %v", t.state, t.event)
		case d.tree[si].final:
			v.add("timeout of %v: %v is final: nothing fires in it", t.state, t.state)
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
					keeps = "its transition to " + d.stateNames[c.plan.to]
				}
			case KindChoice:
				for _, b := range c.branches {
					if !d.exitsState(b.dom, f) {
						keeps = "its choice's branch to " + d.stateNames[b.to]
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
