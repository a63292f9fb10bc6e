package fsm

import (
	"fmt"
	"strings"
)

// Build validates the definition and returns it, or a *BuildError listing
// every problem by name: unknown, duplicate or clashing names; children of
// unknown states, states with two parents, cycles; (leaf, event) pairs no
// rule applies to and pairs declared twice at one state; rules without a
// needed reason or outcome; leaves unreachable from the initial state; and
// hooks, tasks, failure events, actions and timeouts that refer to what
// does not exist.
func (b *Builder[S, E]) Build() (*Definition[S, E], error) {
	v := &validator[S, E]{b: b, d: &Definition[S, E]{
		stateIdx: make(map[S]int, len(b.states)),
		eventIdx: make(map[E]int, len(b.events)),
	}}
	initialOK := v.names()
	v.hierarchy()
	v.documentOrder()
	v.histories()
	v.finals()
	v.rules()
	v.resolve()
	v.hooks()
	v.tasks()
	v.failures()
	v.actions()
	v.timeouts()
	if initialOK {
		v.reachable()
	}
	v.postponeLimit()
	v.emitScopes()
	v.exitCauses()
	v.plainEntries()
	if len(v.problems) > 0 {
		return nil, &BuildError{Problems: v.problems}
	}
	return v.d, nil
}

// validator builds a Definition from a Builder, one concern per method,
// collecting the problems it finds.
type validator[S, E comparable] struct {
	b        *Builder[S, E]
	d        *Definition[S, E]
	problems []string
}

// declare indexes vals, the declared states or events (kind), in order,
// naming each with fmt.Sprint; a value declared twice, or two values
// with one name, are reported to add.
func declare[T comparable](add func(string, ...any), kind string, vals []T, idx map[T]int, list *[]T, names *[]string) {
	seen := map[string]bool{}
	for _, x := range vals {
		name := fmt.Sprint(x)
		if _, dup := idx[x]; dup {
			add("%s %s declared twice", kind, name)
			continue
		}
		if seen[name] {
			add("two %ss are named %s", kind, name)
		}
		seen[name] = true
		idx[x] = len(*list)
		*list = append(*list, x)
		*names = append(*names, name)
	}
}

func (v *validator[S, E]) add(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

// names indexes the states and events and finds the initial state. A
// duplicate is reported once and otherwise ignored, so that it does not
// also show up as undeclared pairs and an unreachable state.
func (v *validator[S, E]) names() (initialOK bool) {
	d := v.d
	if len(v.b.states) == 0 {
		v.add("no states declared")
	}
	if len(v.b.events) == 0 {
		v.add("no events declared")
	}
	declare(v.add, "state", v.b.states, d.stateIdx, &d.states, &d.stateNames)
	declare(v.add, "event", v.b.events, d.eventIdx, &d.events, &d.eventNames)
	init, ok := d.stateIdx[v.b.initial]
	if !ok && len(d.states) > 0 {
		v.add("initial state %v is not declared", v.b.initial)
	}
	d.initial = init
	return ok
}

// hierarchy links children to parents, breaks cycles after reporting them,
// and works out depths and initial leaves.
func (v *validator[S, E]) hierarchy() {
	d := v.d
	d.tree = make([]node, len(d.states))
	for i := range d.tree {
		d.tree[i].parent = -1
	}
	declared := map[int]bool{}
	decls := append(append([]childDecl[S](nil), v.b.children...), v.b.parallel...)
	for i, c := range decls {
		parallel := i >= len(v.b.children)
		kind := "Children"
		if parallel {
			kind = "Parallel"
		}
		pi, ok := d.stateIdx[c.parent]
		switch {
		case !ok:
			v.add("children of unknown state %v", c.parent)
			continue
		case declared[pi]:
			v.add("children of %v declared twice", c.parent)
			continue
		case len(c.kids) == 0:
			v.add("%s(%v) lists no children", kind, c.parent)
			continue
		}
		declared[pi] = true
		d.nested = true
		d.tree[pi].parallel = parallel
		d.parallel = d.parallel || parallel
		for _, k := range c.kids {
			ki, ok := d.stateIdx[k]
			switch {
			case !ok:
				v.add("child %v of %v: unknown state", k, c.parent)
			case ki == pi:
				v.add("state %v cannot be its own child", k)
			case d.tree[ki].parent >= 0:
				v.add("state %v has two parents: %s and %v", k, d.stateNames[d.tree[ki].parent], c.parent)
			default:
				d.tree[ki].parent = pi
				d.tree[pi].children = append(d.tree[pi].children, ki)
			}
		}
	}
	v.breakCycles()
	for si := range d.tree {
		depth := 0
		for p := d.tree[si].parent; p >= 0; p = d.tree[p].parent {
			depth++
		}
		d.tree[si].depth = depth
		d.levels = max(d.levels, depth+1)
		leaf := si
		for len(d.tree[leaf].children) > 0 {
			leaf = d.tree[leaf].children[0]
		}
		d.tree[si].leaf = leaf
	}
	if len(d.states) > 0 {
		for s := d.tree[d.initial].leaf; s >= 0; s = d.tree[s].parent {
			d.start = append([]int32{int32(s)}, d.start...)
			d.startStates = append([]S{d.states[s]}, d.startStates...)
		}
	}
	if d.parallel {
		v.regions()
	}
}

// breakCycles reports every cycle of parent links once and cuts it, so
// that the checks after it can walk up the tree.
func (v *validator[S, E]) breakCycles() {
	d := v.d
	const (
		unvisited = iota
		onPath
		done
	)
	mark := make([]int, len(d.tree))
	for si := range d.tree {
		var path []int
		s := si
		for s >= 0 && mark[s] == unvisited {
			mark[s] = onPath
			path = append(path, s)
			s = d.tree[s].parent
		}
		if s >= 0 && mark[s] == onPath { // the walk came back to itself
			var names []string
			start := 0
			for path[start] != s {
				start++
			}
			for _, c := range path[start:] {
				names = append(names, d.stateNames[c])
			}
			v.add("cycle of parents: %s → %s", strings.Join(names, " → "), d.stateNames[s])
			// Cut the link from the cycle's first state to its parent.
			p := d.tree[s].parent
			d.tree[s].parent = -1
			kids := d.tree[p].children
			for i, k := range kids {
				if k == s {
					d.tree[p].children = append(kids[:i:i], kids[i+1:]...)
					break
				}
			}
		}
		for _, c := range path {
			mark[c] = done
		}
	}
}

// finals marks the final states, which must be leaves.
func (v *validator[S, E]) finals() {
	d := v.d
	for _, s := range v.b.finals {
		si, ok := d.stateIdx[s]
		switch {
		case !ok:
			v.add("final state %v is not declared", s)
		case len(d.tree[si].children) > 0:
			v.add("final state %v has children: a final state is a leaf", s)
		default:
			d.tree[si].final = true
		}
	}
}

// rules records each declared rule at its state.
func (v *validator[S, E]) rules() {
	d := v.d
	nE := len(d.events)
	d.decl = make([]decl[S, E], len(d.states)*nE)
	for _, r := range v.b.rules {
		si, okS := d.stateIdx[r.From]
		ei, okE := d.eventIdx[r.On]
		if !okS {
			v.add("rule %v × %v: unknown state %v", r.From, r.On, r.From)
		}
		if !okE {
			v.add("rule %v × %v: unknown event %v", r.From, r.On, r.On)
		}
		x := decl[S, E]{kind: r.Then.Kind, reason: r.Reason}
		valid := true
		switch r.Then.Kind {
		case KindTransition:
			if x.to, valid = v.target(r.Then.To); !valid {
				v.add("rule %v × %v: unknown target state %v", r.From, r.On, r.Then.To)
			}
			x.internal = r.Then.Internal
			if valid && okS && x.internal && !v.below(si, x.to) {
				v.add("rule %v × %v: internal transition to %v: %v is not a proper descendant of %v", r.From, r.On, r.Then.To, r.Then.To, r.From)
				valid = false
			}
			if valid && okS && x.internal && d.tree[si].parallel {
				v.add("rule %v × %v: internal transition on parallel state %v: its regions are all active, so none can be re-entered alone (use To)", r.From, r.On, r.From)
				valid = false
			}
		case KindChoice:
			valid = v.choice(r, &x)
			v.d.hooked = true // a choice's function is user code
		case KindIgnore, KindReject:
			if strings.TrimSpace(r.Reason) == "" {
				v.add("rule %v × %v: %v needs a reason", r.From, r.On, r.Then.Kind)
			}
		case KindPostpone: // the reason is optional
		default:
			v.add("rule %v × %v: no outcome (use To, Internal, Ignore, Reject, Choice or Postpone)", r.From, r.On)
			valid = false
		}
		if !okS || !okE {
			continue
		}
		if d.tree[si].final {
			v.add("rule %v × %v: %v is final: no event is processed in it", r.From, r.On, r.From)
			continue
		}
		c := &d.decl[si*nE+ei]
		if c.kind != 0 {
			v.add("rule %v × %v declared twice", r.From, r.On)
			continue
		}
		if !valid {
			// Declared, if wrongly: reported above, not again as undeclared.
			c.kind = kindInvalid
			continue
		}
		*c = x
	}
}

// choice checks a Choice outcome and resolves its targets into x.
func (v *validator[S, E]) choice(r Rule[S, E], x *decl[S, E]) bool {
	ch := r.Then.Choice
	if ch == nil || ch.Pick == nil {
		v.add("rule %v × %v: choice has no function", r.From, r.On)
		return false
	}
	if len(ch.Targets) == 0 {
		v.add("rule %v × %v: choice declares no targets", r.From, r.On)
		return false
	}
	valid := true
	seen := map[int]bool{}
	for _, t := range ch.Targets {
		ti, ok := v.target(t)
		switch {
		case !ok:
			v.add("rule %v × %v: unknown choice target %v", r.From, r.On, t)
			valid = false
		case seen[ti]:
			v.add("rule %v × %v: choice target %v listed twice", r.From, r.On, t)
			valid = false
		default:
			seen[ti] = true
			x.targets = append(x.targets, ti)
		}
	}
	x.choice = ch
	return valid
}

// actions attaches each action to its declared transition or choice.
func (v *validator[S, E]) actions() {
	d := v.d
	nE := len(d.events)
	for _, a := range v.b.actions {
		si, okS := d.stateIdx[a.from]
		ei, okE := d.eventIdx[a.on]
		switch {
		case !okS || !okE:
			v.add("action for %v × %v: unknown state or event", a.from, a.on)
		case a.fn == nil:
			v.add("action for %v × %v is nil", a.from, a.on)
		case d.decl[si*nE+ei].kind != KindTransition && d.decl[si*nE+ei].kind != KindChoice:
			v.add("action for %v × %v: the pair is not a transition", a.from, a.on)
		case d.decl[si*nE+ei].action != nil:
			v.add("action for %v × %v declared twice", a.from, a.on)
		default:
			d.decl[si*nE+ei].action = a.fn
			d.hooked = true
			// The cells resolved to this rule carry the action too.
			for s := range d.states {
				if c := &d.cells[s*nE+ei]; c.kind != 0 && c.at == si {
					c.action = a.fn
				}
			}
		}
	}
}

// resolve finds, for every state and event, the rule that applies: the
// state's own or its nearest ancestor's. Every leaf that is not final must
// have one for every event.
func (v *validator[S, E]) resolve() {
	d := v.d
	nE := len(d.events)
	d.cells = make([]cell[S, E], len(d.states)*nE)
	for si := range d.states {
		leaf := len(d.tree[si].children) == 0
		for ei := range d.events {
			at := -1
			for s := si; s >= 0; s = d.tree[s].parent {
				if d.decl[s*nE+ei].kind != 0 {
					at = s
					break
				}
			}
			switch {
			case at < 0:
				if leaf && !d.tree[si].final {
					v.undeclared(si, ei)
				}
			case d.decl[at*nE+ei].kind != kindInvalid:
				d.cells[si*nE+ei] = d.resolved(si, at, ei)
			}
		}
	}
}

func (v *validator[S, E]) undeclared(si, ei int) {
	d := v.d
	if d.tree[si].parent < 0 {
		v.add("undeclared: %s × %s", d.stateNames[si], d.eventNames[ei])
		return
	}
	var up []string
	for p := d.tree[si].parent; p >= 0; p = d.tree[p].parent {
		up = append(up, d.stateNames[p])
	}
	v.add("undeclared: %s × %s (no rule in %s or its ancestors %s)",
		d.stateNames[si], d.eventNames[ei], d.stateNames[si], strings.Join(up, ", "))
}

// plainEntries marks the plans whose entry only sets the configuration, so
// a step can skip entering level by level.
func (v *validator[S, E]) plainEntries() {
	d := v.d
	if d.per == nil || d.cells == nil {
		return
	}
	plain := func(p *plan[S]) {
		p.plain, p.hooksOnly = true, true
		for _, s := range p.enters {
			x := &d.per[s]
			if len(x.timeouts) > 0 || d.tree[s].scoped || d.tree[s].final {
				p.plain, p.hooksOnly = false, false
			}
			if len(x.enter) > 0 {
				p.plain = false
			}
		}
		p.hooksOnly = p.hooksOnly && !p.plain && len(p.enters) == 1
	}
	for i := range d.cells {
		c := &d.cells[i]
		plain(&c.plan)
		for j := range c.branches {
			plain(&c.branches[j])
		}
	}
}

// postponeLimit sets the definition's postpone limit, which must not be
// negative.
func (v *validator[S, E]) postponeLimit() {
	v.d.postponeLimit = DefaultPostponeLimit
	v.d.cold0 = &coldConfig[S, E]{joinTimeout: DefaultJoinTimeout}
	if !v.b.postponeSet {
		return
	}
	if v.b.postponeLimit < 0 {
		v.add("postpone limit %d is negative", v.b.postponeLimit)
		return
	}
	v.d.postponeLimit = v.b.postponeLimit
}
