package fsm

import (
	"github.com/connfsm/connfsm/tasks"
)

// This file takes the steps whose configuration is worked out at the step:
// a transition to a history, and every step of a definition with parallel
// states. m.path then holds the active states in document order (for a
// machine without parallel states, still the path from the top down to the
// leaf). These steps allocate; the steps of precomputed plans (step.go) do
// not.

// sel is one transition a step takes.
type sel[S, E comparable] struct {
	c       *cell[S, E]
	p       *plan[S]
	from    int    // the leaf it was resolved from
	atEpoch uint64 // the entry of the state declaring the rule
	t       Transition[S, E]
	entered bool // t.To is set
}

// stepWork is the scratch of the steps of this file, kept between steps
// (a machine takes one at a time) so that a step allocates little.
type stepWork[S, E comparable] struct {
	sels    []sel[S, E]
	owner   []int
	enterer []int
	fresh   []bool
	spare   []level // the configuration's other buffer
	target  [1]int
}

func (m *Machine[S, E]) scratch() *stepWork[S, E] {
	r := m.rare()
	if r.work == nil {
		r.work = &stepWork[S, E]{}
	}
	return r.work.(*stepWork[S, E])
}

// grow returns s resized to n, zeroed.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// transitionSet takes the transitions sels (without conflicts, in document
// order of their leaves) as one step, in the documented order: cancel the
// tasks of every state exited, all at once; join them and run their exit
// hooks in reverse document order; the actions; set the configuration;
// enter the new states in document order.
func (m *Machine[S, E]) transitionSet(sels []sel[S, E], ev int, payload any) {
	d := m.def
	w := m.scratch()
	from := m.cur
	n := len(m.path)
	w.owner = grow(w.owner, n)
	owner := w.owner // 1 + the sel exiting each level, 0 if it stays
	for k := range sels {
		s := &sels[k]
		dom := int(s.p.dom)
		for j := range m.path {
			if si := int(m.path[j].si); owner[j] == 0 && si != dom && (dom < 0 || d.ancestorOrSelf(dom, si)) {
				owner[j] = k + 1
			}
		}
		s.atEpoch = m.entryEpoch(s.c.at)
	}
	cause := func(si int) *ExitError { return d.exitCause[si*len(d.events)+ev] }
	for j := range n { // document order: outermost first
		if owner[j] == 0 {
			continue
		}
		lv := &m.path[j]
		if lv.sc != nil {
			lv.sc.stop(cause(int(lv.si)))
		}
		if x := lv.ext; x != nil {
			for _, t := range x.timers {
				t.Stop()
			}
			x.timers = nil
		}
	}
	var join tasks.Report
	var exited []Level[S]
	for j := n - 1; j >= 0; j-- { // innermost first
		if owner[j] == 0 {
			continue
		}
		lv := &m.path[j]
		var r tasks.Report
		if sc := lv.sc; sc != nil {
			lv.sc = nil
			if sc.g != nil {
				r = m.join(sc, cause(int(lv.si)))
			}
			m.unlink(sc)
		}
		if m.obs != nil {
			exited = append(exited, Level[S]{State: d.states[lv.si], Join: r})
		}
		if len(r.Tasks) > 0 {
			join.Tasks = append(join.Tasks, r.Tasks...)
			join.Took += r.Took
		}
	}
	// As in SCXML, a state's history is recorded as it is exited, before
	// the targets are worked out: a transition from inside a composite to
	// its own history re-enters what was active.
	m.remember(owner)
	w.enterer = grow(w.enterer, len(d.states))
	enterer := w.enterer // 1 + the sel entering each state
	for j, lv := range m.path {
		if owner[j] == 0 {
			enterer[lv.si] = -1 // stays active: not entered again
		}
	}
	for k := range sels {
		targets := w.target[:]
		if p := sels[k].p; p.to < len(d.states) {
			targets[0] = p.to
		} else {
			targets = m.targets(p)
		}
		d.entrySet(int(sels[k].p.dom), targets, enterer, k+1)
	}
	for k := range sels {
		sels[k].t = Transition[S, E]{From: d.states[sels[k].from], Event: d.events[ev], Payload: payload, Env: m.env}
	}
	for _, si := range d.byDoc { // each transition's To: the first leaf it enters
		if k := enterer[si] - 1; k >= 0 && len(d.tree[si].children) == 0 && !sels[k].entered {
			sels[k].t.To, sels[k].entered = d.states[si], true
		}
	}
	for j := n - 1; j >= 0; j-- {
		if owner[j] == 0 {
			continue
		}
		lv := m.path[j]
		m.path = append(m.path[:j], m.path[j+1:]...)
		if hooks := d.per[lv.si].exit; len(hooks) > 0 {
			t := sels[owner[j]-1].t
			t.State, t.Epoch = d.states[lv.si], lv.epoch
			m.at = where{kind: atExit, si: int32(lv.si)}
			for _, h := range hooks {
				h(m.inner(), t)
			}
			m.at.kind = atMachine
		}
		if x := lv.ext; x != nil && x.trace != nil {
			x.trace.End()
		}
	}
	for k := range sels {
		s := &sels[k]
		if s.c.action != nil {
			t := s.t
			t.State, t.Epoch = d.states[s.c.at], s.atEpoch
			m.at = where{kind: atAction, si: int32(s.c.at), ei: int32(ev)}
			s.c.action(m.inner(), t)
			m.at.kind = atMachine
		}
	}

	// Enter: the entry sets, merged into the configuration in document
	// order.
	var entered []S
	old := m.path
	m.path = w.spare[:0]
	if cap(m.path) < len(d.states) {
		m.path = make([]level, 0, len(d.states))
	}
	fresh := w.fresh[:0]
	oi := 0
	for _, si32 := range d.byDoc {
		si := int(si32)
		switch {
		case oi < len(old) && int(old[oi].si) == si:
			m.path = append(m.path, old[oi])
			fresh = append(fresh, false)
			oi++
		case enterer[si] > 0:
			m.epoch++
			m.path = append(m.path, level{si: int32(si), epoch: m.epoch})
			fresh = append(fresh, true)
			if m.obs != nil {
				entered = append(entered, d.states[si])
			}
		}
	}
	clear(old) // its scopes and timers live on in m.path only
	w.spare, w.fresh = old[:0], fresh
	m.publish()
	if m.watched.Load() {
		m.notifyChanged(ev)
	}
	if m.obs != nil {
		moves := make([]Move[S], len(sels))
		for k := range sels {
			moves[k] = Move[S]{From: sels[k].t.From, To: sels[k].t.To}
		}
		m.observe(Record[S, E]{Kind: RecordTransition, From: d.states[from], Event: d.events[ev], To: d.states[m.cur],
			State: d.states[from], Epoch: m.pubEpoch.Load(), Join: join, Exited: exited, Entered: entered, Moves: moves, Payload: payload})
	}
	final := false
	for i := range m.path {
		if !fresh[i] {
			continue
		}
		si := m.path[i].si
		m.enterLevel(i, &sels[enterer[si]-1].t)
		final = final || d.tree[si].final
	}
	if final {
		m.stop(nil)
	}
}

// entryEpoch returns the epoch of the active entry of state si.
func (m *Machine[S, E]) entryEpoch(si int) uint64 {
	for _, lv := range m.path {
		if int(lv.si) == si {
			return lv.epoch
		}
	}
	return 0
}

// publish sets the active leaf, the first in document order, and its
// epoch, for State, In and Epoch.
func (m *Machine[S, E]) publish() {
	d := m.def
	if d.parallel {
		conf := make([]int32, len(m.path))
		for i, lv := range m.path {
			conf[i] = int32(lv.si)
		}
		// With the last epoch handed out, for the watches (watchState).
		m.pubConf.Store(&pubConfig{states: conf, gen: m.epoch})
	}
	for _, lv := range m.path {
		if len(d.tree[lv.si].children) == 0 {
			m.cur = lv.si
			m.pubLeaf.Store(int32(lv.si))
			m.pubEpoch.Store(lv.epoch)
			return
		}
	}
}

// remember records, for every state exited (owner[j] != 0) that has a
// history, the leaves active below it.
func (m *Machine[S, E]) remember(owner []int) {
	d := m.def
	if len(d.hist) == 0 {
		return
	}
	for j, lv := range m.path {
		if owner[j] == 0 || !d.remember[lv.si] {
			continue
		}
		m.rememberLeaves(int(lv.si), m.path[j+1:])
	}
}

// rememberLeaves records the leaves of below that descend from si as the
// configuration si last left.
func (m *Machine[S, E]) rememberLeaves(si int, below []level) {
	d := m.def
	ext := m.rare()
	if ext.memory == nil {
		ext.memory = make([][]int32, len(d.states))
	}
	mem := ext.memory[si][:0]
	for _, x := range below {
		if len(d.tree[x.si].children) == 0 && d.ancestorOrSelf(si, int(x.si)) {
			mem = append(mem, int32(x.si))
		}
	}
	ext.memory[si] = mem
}

// targets returns what p enters down to: its target, or for a history
// what its composite last left (deep: the leaves; shallow: the children
// leading to them), or the composite itself, entered by default, if it was
// never left.
func (m *Machine[S, E]) targets(p *plan[S]) []int {
	var memory [][]int32
	if m.ext != nil && m.ext.rare != nil {
		memory = m.ext.rare.memory
	}
	return m.def.targets(p, memory)
}

func (d *Definition[S, E]) targets(p *plan[S], memory [][]int32) []int {
	if p.to < len(d.states) {
		return []int{p.to}
	}
	h := d.hist[p.to-len(d.states)]
	var mem []int32
	if memory != nil {
		mem = memory[h.composite]
	}
	if len(mem) == 0 {
		return []int{h.composite}
	}
	var out []int
	for _, l := range mem {
		t := int(l)
		if h.kind == Shallow {
			for d.tree[t].parent != h.composite {
				t = d.tree[t].parent
			}
		}
		if len(out) == 0 || out[len(out)-1] != t {
			out = append(out, t)
		}
	}
	return out
}

// entrySet marks in enterer, with mark, the states a transition of domain
// dom to targets enters: each target and its ancestors below dom, then
// the default entries below them (a composite none of whose children is
// marked enters its initial child; a parallel state enters every region).
// States marked already (active, or entered by another transition) are
// left as they are.
func (d *Definition[S, E]) entrySet(dom int, targets []int, enterer []int, mark int) {
	for i, t := range targets {
		if t == dom { // an internal transition to its own state's history, never left
			t = d.tree[t].children[0]
			targets[i] = t
		}
		for s := t; s >= 0 && s != dom; s = d.tree[s].parent {
			if enterer[s] == 0 {
				enterer[s] = mark
			}
		}
	}
	var complete func(s int)
	complete = func(s int) {
		kids := d.tree[s].children
		if len(kids) == 0 {
			return
		}
		some := false
		for _, k := range kids {
			if enterer[k] != 0 {
				some = true
			}
		}
		if !some || d.tree[s].parallel {
			for _, k := range kids {
				if enterer[k] == 0 {
					enterer[k] = mark
				}
				if !d.tree[s].parallel {
					break // the initial child only
				}
			}
		}
		for _, k := range kids {
			if enterer[k] == mark {
				complete(k)
			}
		}
	}
	for _, t := range targets {
		top := t
		for top >= 0 && d.tree[top].parent != dom && top != dom {
			top = d.tree[top].parent
		}
		if top >= 0 && top != dom && enterer[top] == mark {
			complete(top)
		}
	}
}
