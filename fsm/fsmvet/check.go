package fsmvet

import (
	"fmt"
	"go/constant"
	"go/token"
	"slices"

	"golang.org/x/tools/go/analysis"
)

// pair is a (state, event) pair as map key.
type pair struct{ from, on string }

// check reports, at t's position, the problems of the hierarchy Build
// would refuse and every (leaf, event) pair that no rule of t resolves,
// then, at the row, every pair declared twice, every rule for a final or a
// history state, every internal rule on a parallel state and every
// internal rule whose target is not below its state. Final leaves need no rules: no event is processed in them; nor do
// history pseudo-states, which are no leaves. A pair resolves when a rule
// is declared for the leaf or, failing that, for its nearest ancestor that
// has one: in a parallel state, a region's leaf resolves up its region,
// the parallel state and above.
func check(pass *analysis.Pass, t *table, h *hierarchy) {
	states, ok := enumOf(t.s, pass.Pkg)
	if !ok {
		return
	}
	events, ok := enumOf(t.e, pass.Pkg)
	if !ok {
		return
	}
	first := make(map[pair]row, len(t.rows))
	var dups [][2]row // the repeat, the first
	var bad []diag    // the rows' problems other than duplicates
	for _, r := range t.rows {
		p := pair{key(r.from), key(r.on)}
		switch {
		case h.isFinal(r.from):
			bad = append(bad, diag{r.pos, fmt.Sprintf("rule %s × %s is for a final state: no event is processed in it",
				states.name(r.from), events.name(r.on))})
		case h.isHistory(r.from):
			bad = append(bad, diag{r.pos, fmt.Sprintf("rule %s × %s is for a history state: it has no rules",
				states.name(r.from), events.name(r.on))})
		}
		if r.internal && h.isParallel(r.from) {
			bad = append(bad, diag{r.pos, fmt.Sprintf("rule %s × %s: internal transition on parallel state %s: its regions are all active, so none can be re-entered alone (use To)",
				states.name(r.from), events.name(r.on), states.name(r.from))})
		} else if r.internal && r.target != nil && !h.properDescendant(r.target, r.from) {
			bad = append(bad, diag{r.pos, fmt.Sprintf("rule %s × %s: internal transition to %s: %s is not a proper descendant of %s",
				states.name(r.from), events.name(r.on), states.name(r.target), states.name(r.target), states.name(r.from))})
		}
		if prev, dup := first[p]; dup {
			dups = append(dups, [2]row{r, prev})
			continue
		}
		first[p] = r
	}
	stateSet, eventSet := t.states, t.events
	if stateSet == nil {
		stateSet = states.members
	}
	if eventSet == nil {
		eventSet = events.members
	}
	childless := hierarchyProblems(pass, t, h, states)
	for _, s := range stateSet {
		if !h.isLeaf(s) || h.isFinal(s) || h.isHistory(s) || childless[key(s)] {
			continue
		}
		for _, e := range eventSet {
			if !resolves(first, h.path(s), e) {
				pass.Reportf(t.pos, "rule table misses %s × %s", states.name(s), events.name(e))
			}
		}
	}
	// After the misses, the rows' problems in the order of the source.
	for _, d := range dups {
		bad = append(bad, diag{d[0].pos, fmt.Sprintf("duplicate rule %s × %s (first at line %d)",
			states.name(d[0].from), events.name(d[0].on), pass.Fset.Position(d[1].pos).Line)})
	}
	slices.SortStableFunc(bad, func(a, b diag) int { return int(a.pos - b.pos) })
	for _, d := range bad {
		pass.Report(analysis.Diagnostic{Pos: d.pos, Message: d.msg})
	}
}

// diag is one report to make.
type diag struct {
	pos token.Pos
	msg string
}

// hierarchyProblems reports at t's position what Build refuses in h and
// in t's States: a region without children, a history on a leaf, a history
// listed as a state. It returns the childless regions: they are no leaves
// to Build, and their missing pairs would only repeat the report.
func hierarchyProblems(pass *analysis.Pass, t *table, h *hierarchy, states *enum) map[string]bool {
	childless := make(map[string]bool)
	for _, p := range h.parallels {
		for _, r := range p.regions {
			if h.isLeaf(r) {
				childless[key(r)] = true
				pass.Reportf(t.pos, "region %s of %s has no initial child: a region is a composite state (declare its Children)",
					states.name(r), states.name(p.state))
			}
		}
	}
	for _, hs := range h.histories {
		if h.isLeaf(hs.composite) {
			pass.Reportf(t.pos, "history %s of %s: %s has no children: a history belongs to a composite state",
				states.name(hs.state), states.name(hs.composite), states.name(hs.composite))
		}
	}
	for _, s := range t.states {
		if h.isHistory(s) {
			pass.Reportf(t.pos, "history %s of %s is listed in States: a history is a pseudo-state, not a state",
				states.name(s), states.name(h.parent[key(s)]))
		}
	}
	return childless
}

// resolves reports whether a rule is declared for event on some state of
// path.
func resolves(rules map[pair]row, path []constant.Value, event constant.Value) bool {
	for _, s := range path {
		if _, ok := rules[pair{key(s), key(event)}]; ok {
			return true
		}
	}
	return false
}
