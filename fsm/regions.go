package fsm

// This file resolves an event in a machine with parallel states, as SCXML
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
	for _, lv := range m.path {
		l := lv.si
		if len(d.tree[l].children) > 0 || (scope >= 0 && !d.ancestorOrSelf(scope, l)) {
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
			if postponed != nil {
				continue // no choice runs for an event postponed anyway
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
	m.cur = l // choose names the leaf in its rejection
	p, rej := m.choose(c, it)
	m.cur = cur
	return p, rej
}
