package fsmvet

import (
	"go/constant"

	"golang.org/x/tools/go/analysis"
)

// pair is a (state, event) pair as map key.
type pair struct{ from, on string }

// check reports every (leaf, event) pair that no rule of t resolves, at
// t's position, then, at the row, every pair declared twice and every rule
// for a final state. Final leaves need no rules: no event is processed in
// them. A pair
// resolves when a rule is declared for the leaf or, failing that, for its
// nearest ancestor that has one.
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
	var finalRules []row
	for _, r := range t.rows {
		p := pair{key(r.from), key(r.on)}
		if h.isFinal(r.from) {
			finalRules = append(finalRules, r)
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
	for _, s := range stateSet {
		if !h.isLeaf(s) || h.isFinal(s) {
			continue
		}
		for _, e := range eventSet {
			if !resolves(first, h.path(s), e) {
				pass.Reportf(t.pos, "rule table misses %s × %s", states.name(s), events.name(e))
			}
		}
	}
	// After the misses, the rows' problems in the order of the source.
	for len(dups) > 0 || len(finalRules) > 0 {
		if len(finalRules) == 0 || len(dups) > 0 && dups[0][0].pos < finalRules[0].pos {
			d := dups[0]
			dups = dups[1:]
			pass.Reportf(d[0].pos, "duplicate rule %s × %s (first at line %d)",
				states.name(d[0].from), events.name(d[0].on), pass.Fset.Position(d[1].pos).Line)
			continue
		}
		r := finalRules[0]
		finalRules = finalRules[1:]
		pass.Reportf(r.pos, "rule %s × %s is for a final state: no event is processed in it",
			states.name(r.from), events.name(r.on))
	}
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
