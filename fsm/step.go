package fsm

import (
	"fmt"
	"time"

	"github.com/connfsm/connfsm/tasks"
)

// This file takes steps: one event, the start, the stop. Only the
// processor (the goroutine holding busy) runs it.

// process takes it by pointer: copying the item into every call measurably
// slowed the hot path.
func (m *Machine[S, E]) process(it *item) error {
	if x := m.ext; x != nil && x.rare != nil && len(x.rare.held) > 0 {
		return m.processHeld(it)
	}
	// Only user code panics, short of a bug here: a step that runs none
	// (no hooks, no observer, no payload to dispose) spares the recover.
	if m.risky || it.payload != nil {
		return m.processGuarded(it)
	}
	return m.step(it)
}

// processGuarded is process for a step that may run user code: a panic
// fail-stops the machine (see failStop).
func (m *Machine[S, E]) processGuarded(it *item) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = m.failStop(v)
		}
	}()
	return m.step(it)
}

// step processes one item.
func (m *Machine[S, E]) step(it *item) error {
	switch it.op {
	case opStop:
		m.stop(nil)
		return nil
	case opDropped:
		return ErrStopped
	case opTaskFailed, opStragglerReturned:
		if m.obs != nil {
			kind := RecordTaskFailed
			if it.op == opStragglerReturned {
				kind = RecordStragglerReturned
			}
			d := m.def
			err, _ := it.payload.(error)
			s := d.states[it.si]
			m.observe(Record[S, E]{Kind: kind, From: s, To: s, State: s, Epoch: it.epoch, Task: it.task, Err: err})
		}
		return nil
	}
	d := m.def
	if m.stopped0 {
		leaf := d.states[m.cur]
		m.dispose(it.payload)
		if m.obs != nil {
			m.observe(Record[S, E]{Kind: RecordDropped, From: leaf, To: leaf, State: leaf,
				Event: d.events[it.ev], Epoch: it.epoch, Err: ErrStopped, Payload: it.payload})
		}
		return ErrStopped
	}
	if it.epoch != 0 && !m.current(int(it.si), it.epoch) {
		leaf := d.states[m.cur]
		m.dispose(it.payload)
		if m.obs != nil {
			m.observe(Record[S, E]{Kind: RecordStale, From: leaf, To: leaf, State: d.states[it.si],
				Event: d.events[it.ev], Epoch: it.epoch, Payload: it.payload})
		}
		return nil
	}
	c := &d.cells[int(m.cur)*len(d.events)+int(it.ev)]
	// First the step of one level for one, the common step of a machine
	// without children: a machine with regions has at least three levels,
	// and a dynamic plan has no enters.
	if c.kind == KindTransition && len(m.path) == 1 && len(c.plan.enters) == 1 {
		if d.hooked {
			var t Transition[S, E]
			m.transition1(c, &c.plan, int(it.ev), it.payload, &t)
		} else {
			m.transition1(c, &c.plan, int(it.ev), it.payload, nil)
		}
		return nil
	}
	if d.parallel {
		return m.stepRegions(it)
	}
	switch c.kind {
	case KindIgnore:
		m.dispose(it.payload)
		if m.obs != nil {
			leaf := d.states[m.cur]
			m.observe(Record[S, E]{Kind: RecordIgnored, From: leaf, To: leaf, State: d.states[c.at],
				Event: d.events[it.ev], Epoch: m.epoch, Reason: c.reason, Payload: it.payload})
		}
		return nil
	case KindReject:
		return m.reject(c.rejected, c, it)
	case KindPostpone:
		return m.postpone(c, it, int(m.cur))
	case KindChoice:
		p, rej := m.choose(c, it)
		if rej != nil {
			return m.reject(rej, c, it)
		}
		if p.dynamic {
			m.transitionSet([]sel[S, E]{{c: c, p: p, from: int(m.cur)}}, int(it.ev), it.payload)
		} else {
			m.transition(c, p, int(it.ev), it.payload)
		}
		return nil
	}
	if c.plan.dynamic {
		m.transitionSet([]sel[S, E]{{c: c, p: &c.plan, from: int(m.cur)}}, int(it.ev), it.payload)
	} else {
		m.transition(c, &c.plan, int(it.ev), it.payload)
	}
	return nil
}

func (m *Machine[S, E]) reject(err *RejectedError, c *cell[S, E], it *item) error {
	d := m.def
	m.dispose(it.payload)
	if m.obs != nil {
		leaf := d.states[m.cur]
		m.observe(Record[S, E]{Kind: RecordRejected, From: leaf, To: leaf, State: d.states[c.at],
			Event: d.events[it.ev], Epoch: m.epoch, Reason: err.Reason, Err: err, Payload: it.payload})
	}
	return err
}

// current reports whether the entry of state si with epoch is active.
func (m *Machine[S, E]) current(si int, epoch uint64) bool {
	if m.def.parallel {
		return m.entryEpoch(si) == epoch
	}
	dep := m.def.tree[si].depth
	return dep < len(m.path) && m.path[dep].epoch == epoch
}

// choose runs a choice's function and returns the plan of the branch it
// picked, or why the step is rejected: a target it does not declare, or a
// panic.
func (m *Machine[S, E]) choose(c *cell[S, E], it *item) (p *plan[S], rej *RejectedError) {
	d := m.def
	var target S
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		target = c.choice.Pick(m.env, it.payload)
	}()
	reason := ""
	if panicked != nil {
		reason = fmt.Sprintf("the choice of %s panicked: %v", d.stateNames[c.at], panicked)
	} else {
		for i, t := range c.choice.Targets {
			if t == target {
				return &c.branches[i], nil
			}
		}
		reason = fmt.Sprintf("the choice of %s picked %v, which is not one of its targets %v", d.stateNames[c.at], target, c.choice.Targets)
	}
	return nil, &RejectedError{State: d.stateNames[m.cur], Event: d.eventNames[it.ev], Reason: reason, Err: ErrUndeclaredTarget}
}

// transition takes one step in the documented order: cancel the tasks of
// every state being left, join them innermost first, run their exit hooks
// innermost first, the action, set the configuration, then enter each new
// level fully (enter hooks, tasks, timeouts) before its child.
func (m *Machine[S, E]) transition(c *cell[S, E], p *plan[S], ev int, payload any) {
	d := m.def
	from := m.cur
	top := len(m.path) - 1
	atEpoch := m.path[d.tree[c.at].depth].epoch // the action's: its rule's state's entry
	n := len(p.exits)
	scoped := false
	// Outermost first: cancelling a scope cancels every scope below it at
	// once, its cause reaching them all.
	for i := n - 1; i >= 0; i-- {
		lv := &m.path[top-i]
		if lv.sc != nil {
			lv.sc.stop(p.exits[i].cause)
			scoped = true
		}
		if x := lv.ext; x != nil {
			for _, t := range x.timers {
				t.Stop()
			}
			x.timers = nil
		}
	}
	var join tasks.Report
	exited := p.exited
	if scoped {
		join, exited = m.joinLevels(p.exits, top)
	}

	// Hooks see it, and so do the tasks and timeouts of the states entered.
	var t Transition[S, E]
	if d.hooked || !p.plain {
		t = Transition[S, E]{From: d.states[from], Event: d.events[ev], To: d.states[p.leaf], Payload: payload, Env: m.env}
	}
	if len(d.hist) > 0 { // what a composite with a history leaves
		for i := range n {
			if si := int(m.path[top-i].si); d.remember[si] {
				m.rememberLeaves(si, m.path[top-i+1:])
			}
		}
	}
	for i := range n {
		lv := &m.path[top-i]
		si, epoch, x := lv.si, lv.epoch, lv.ext
		m.path = m.path[:top-i]
		if hooks := d.per[si].exit; len(hooks) > 0 {
			t.State, t.Epoch = d.states[si], epoch
			m.at = where{kind: atExit, si: int32(si)}
			for _, h := range hooks {
				h(m.inner(), t)
			}
			m.at.kind = atMachine
		}
		if x != nil && x.trace != nil {
			x.trace.End()
		}
	}
	if c.action != nil {
		t.State, t.Epoch = d.states[c.at], atEpoch
		m.at = where{kind: atAction, si: int32(c.at), ei: int32(ev)}
		c.action(m.inner(), t)
		m.at.kind = atMachine
	}

	base := len(m.path)
	m.path = m.path[:base+len(p.enters)]
	for i, s := range p.enters {
		m.epoch++
		m.path[base+i] = level{si: int32(s), epoch: m.epoch}
	}
	m.cur = int32(p.leaf)
	m.pubLeaf.Store(int32(p.leaf))
	m.pubEpoch.Store(m.epoch)
	if m.watched.Load() {
		m.notifyChanged(ev)
	}
	if m.obs != nil {
		m.observe(Record[S, E]{Kind: RecordTransition, From: d.states[from], Event: d.events[ev], To: d.states[p.leaf],
			State: d.states[from], Epoch: m.epoch, Join: join, Exited: exited, Entered: p.entered, Moves: p.moves, Payload: payload})
	}
	for i := base; i < len(m.path); i++ {
		m.enterLevel(i, &t)
	}
	if d.tree[p.leaf].final {
		m.stop(nil)
	}
}

// transition1 is transition for the common case of a step that leaves one
// level for one (every step of a machine without children): the level is
// reused in place. t is nil when the definition has no hooks or actions,
// sparing the step the Transition they would receive.
func (m *Machine[S, E]) transition1(c *cell[S, E], p *plan[S], ev int, payload any, t *Transition[S, E]) {
	d := m.def
	lv := &m.path[0]
	from, fromEpoch := int(lv.si), lv.epoch
	var join tasks.Report
	exited := p.exited
	if lv.sc != nil || lv.ext != nil {
		join, exited = m.leave1(lv, p)
	}
	if t != nil { // zeroed by the caller
		m.exit1(c, p, ev, payload, t, from, fromEpoch)
	}
	to := p.leaf
	m.epoch++
	lv.si, lv.epoch, lv.entered = int32(to), m.epoch, false // sc and ext are nil: leave1 ended them
	m.cur = int32(to)
	m.pubLeaf.Store(int32(to))
	m.pubEpoch.Store(m.epoch)
	if m.watched.Load() {
		m.notifyChanged(ev)
	}
	if m.obs != nil {
		m.observe(Record[S, E]{Kind: RecordTransition, From: d.states[from], Event: d.events[ev], To: d.states[to],
			State: d.states[from], Epoch: m.epoch, Join: join, Exited: exited, Entered: p.entered, Moves: p.moves, Payload: payload})
	}
	if p.plain && !traceOn() {
		lv.entered = true
		return
	}
	if t == nil { // no hooks, but tasks or timeouts see the step that entered
		t = &Transition[S, E]{From: d.states[from], Event: d.events[ev], To: d.states[to], Payload: payload, Env: m.env}
	}
	m.enter1(p, t)
}

// leave1 cancels and joins the tasks of the one level transition1
// leaves, and stops its timers and trace task.
func (m *Machine[S, E]) leave1(lv *level, p *plan[S]) (tasks.Report, []Level[S]) {
	cause := p.exits[0].cause
	var join tasks.Report
	exited := p.exited
	if lv.sc != nil {
		lv.sc.stop(cause)
	}
	x := lv.ext
	if x != nil {
		for _, tm := range x.timers {
			tm.Stop()
		}
	}
	if sc := lv.sc; sc != nil {
		lv.sc = nil
		if sc.g != nil {
			join = m.join(sc, cause)
		}
		m.unlink(sc)
		if m.obs != nil {
			exited = []Level[S]{{State: m.def.states[lv.si], Join: join}}
		}
	}
	if x != nil && x.trace != nil {
		x.trace.End()
	}
	lv.ext = nil
	return join, exited
}

// exit1 runs the exit hooks and the action of transition1's step.
func (m *Machine[S, E]) exit1(c *cell[S, E], p *plan[S], ev int, payload any, t *Transition[S, E], from int, fromEpoch uint64) {
	d := m.def
	t.From, t.Event, t.To, t.Payload, t.Env = d.states[from], d.events[ev], d.states[p.leaf], payload, m.env
	m.path[0].entered = false // a panic in an exit hook must not run them again
	if hooks := d.per[from].exit; len(hooks) > 0 {
		t.State, t.Epoch = d.states[from], fromEpoch
		m.at = where{kind: atExit, si: int32(from)}
		ctx := m.inner()
		for _, h := range hooks {
			h(ctx, *t)
		}
		m.at.kind = atMachine
	}
	if c.action != nil {
		t.State, t.Epoch = d.states[c.at], fromEpoch
		m.at = where{kind: atAction, si: int32(c.at), ei: int32(ev)}
		c.action(m.inner(), *t)
		m.at.kind = atMachine
	}
}

// enter1 enters transition1's target level.
func (m *Machine[S, E]) enter1(p *plan[S], t *Transition[S, E]) {
	d := m.def
	to := p.leaf
	if p.hooksOnly && !traceOn() {
		m.path[0].entered = true
		t.State, t.Epoch = d.states[to], m.epoch
		m.at = where{kind: atEnter, si: int32(to)}
		ctx := m.inner()
		for _, h := range d.per[to].enter {
			h(ctx, *t)
		}
		m.at.kind = atMachine
		return
	}
	m.enterLevel(0, t)
	if d.tree[to].final {
		m.stop(nil)
	}
}

// join cancels sc's tasks with cause and waits for them, up to the join
// timeout, and reports the stragglers. The report is built only if
// someone reads it: the observer, or the stragglers' records.
func (m *Machine[S, E]) join(sc *scope, cause error) tasks.Report {
	left := sc.g.Halt(m.joiner(), cause, m.cold.joinTimeout)
	if left == 0 && m.obs == nil {
		return tasks.Report{}
	}
	r := sc.g.Report()
	if left > 0 {
		m.reportStragglers(sc, r)
	}
	return r
}

// joinLevels joins the tasks of the n levels from top down, innermost
// first, each bounded by the join timeout. It returns the joins merged, and
// each level's join for the observer.
func (m *Machine[S, E]) joinLevels(exits []exit, top int) (tasks.Report, []Level[S]) {
	d := m.def
	var join tasks.Report
	var levels []Level[S]
	if m.obs != nil {
		levels = make([]Level[S], len(exits))
	}
	joined := 0
	for i, x := range exits {
		lv := &m.path[top-i]
		var r tasks.Report
		if sc := lv.sc; sc != nil {
			lv.sc = nil
			if sc.g != nil {
				r = m.join(sc, x.cause)
			}
			m.unlink(sc)
		}
		if levels != nil {
			levels[i] = Level[S]{State: d.states[lv.si], Join: r}
		}
		if len(r.Tasks) > 0 {
			if joined++; joined == 1 {
				join = r
			} else {
				join = tasks.Report{Tasks: append(append([]tasks.Result(nil), join.Tasks...), r.Tasks...), Took: join.Took + r.Took}
			}
		}
	}
	return join, levels
}

// enterLevel enters the state at m.path[i]: enter hooks, then its scope
// with its tasks, then its timeouts.
func (m *Machine[S, E]) enterLevel(i int, t *Transition[S, E]) {
	d := m.def
	lv := &m.path[i]
	lv.entered = true
	if traceOn() {
		m.traceEnter(i)
	}
	t.State, t.Epoch = d.states[lv.si], lv.epoch
	if hooks := d.per[lv.si].enter; len(hooks) > 0 {
		m.at = where{kind: atEnter, si: int32(lv.si)}
		ctx := m.inner()
		for _, h := range hooks {
			h(ctx, *t)
		}
		m.at.kind = atMachine
	}
	if d.tree[lv.si].scoped {
		var parent *scope // the nearest ancestor's: with regions, not a sibling region's
		for j := i - 1; j >= 0 && parent == nil; j-- {
			if !d.parallel || d.ancestorOrSelf(int(m.path[j].si), int(lv.si)) {
				parent = m.path[j].sc
			}
		}
		lv.sc = m.newScope(lv, parent, t)
	}
	if tos := d.per[lv.si].timeouts; len(tos) > 0 {
		m.armTimeouts(lv, tos, t)
	}
}

// enterInitial enters the definition's initial configuration.
func (m *Machine[S, E]) enterInitial() {
	defer func() {
		if v := recover(); v != nil {
			m.failStop(v)
		}
	}()
	d := m.def
	for _, s := range d.start {
		m.epoch++
		m.path = append(m.path, level{si: int32(s), epoch: m.epoch})
	}
	if d.parallel {
		m.publish()
	}
	leaf := d.states[m.cur]
	if m.obs != nil {
		m.observe(Record[S, E]{Kind: RecordStarted, When: time.Now(), From: leaf, To: leaf, State: leaf, Epoch: m.pubEpoch.Load(), Entered: d.startStates})
	}
	t := Transition[S, E]{From: leaf, To: leaf, Env: m.env, Started: true}
	final := false
	for i := range m.path {
		m.enterLevel(i, &t)
		final = final || d.tree[m.path[i].si].final
	}
	if final {
		m.stop(nil)
	}
}
