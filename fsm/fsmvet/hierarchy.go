package fsmvet

import (
	"go/constant"
	"go/types"
)

// hierarchy is the nesting of one state type, from its Children and
// Parallel calls, its final states, from its Final calls, and its history
// pseudo-states, from its History calls.
type hierarchy struct {
	s         types.Type
	parent    map[string]constant.Value // key(child) → parent; key(history) → its composite
	parents   map[string]bool           // key(state) → it has children
	finals    map[string]bool           // key(state) → it is final
	parallels []parallel                // in source order
	histories []history                 // in source order
	isHist    map[string]bool           // key(state) → it is a history pseudo-state
	unknown   bool                      // a Children, Parallel, Final or History call has a non-constant argument
}

// parallel is one Parallel(state, regions...) call.
type parallel struct {
	state   constant.Value
	regions []constant.Value
}

// history is one History(composite, kind, state) call.
type history struct {
	state, composite constant.Value
}

// hierarchies holds one hierarchy per state type of a package.
type hierarchies []*hierarchy

// of returns the hierarchy of state type s, making it if needed.
func (hs *hierarchies) of(s types.Type) *hierarchy {
	for _, h := range *hs {
		if types.Identical(h.s, s) {
			return h
		}
	}
	h := &hierarchy{
		s:       s,
		parent:  make(map[string]constant.Value),
		parents: make(map[string]bool),
		finals:  make(map[string]bool),
		isHist:  make(map[string]bool),
	}
	*hs = append(*hs, h)
	return h
}

// add records that children are nested in parent.
func (h *hierarchy) add(parent constant.Value, children []constant.Value) {
	for _, c := range children {
		h.parent[key(c)] = parent
	}
	if len(children) > 0 {
		h.parents[key(parent)] = true
	}
}

// addParallel records that state is parallel, its regions being its
// children.
func (h *hierarchy) addParallel(state constant.Value, regions []constant.Value) {
	h.add(state, regions)
	h.parallels = append(h.parallels, parallel{state: state, regions: regions})
}

// addHistory records that state is the history of composite. On the path
// of the hierarchy it sits below composite, so that a rule targeting it
// targets a descendant of composite; it is no leaf.
func (h *hierarchy) addHistory(state, composite constant.Value) {
	h.parent[key(state)] = composite
	h.isHist[key(state)] = true
	h.histories = append(h.histories, history{state: state, composite: composite})
}

// isParallel reports whether state is a parallel state.
func (h *hierarchy) isParallel(state constant.Value) bool {
	for _, p := range h.parallels {
		if key(p.state) == key(state) {
			return true
		}
	}
	return false
}

// isHistory reports whether state is a history pseudo-state: it has no
// rules of its own and needs none.
func (h *hierarchy) isHistory(state constant.Value) bool { return h.isHist[key(state)] }

// isFinal reports whether state is final: no event is processed in it.
func (h *hierarchy) isFinal(state constant.Value) bool { return h.finals[key(state)] }

// isLeaf reports whether state has no children.
func (h *hierarchy) isLeaf(state constant.Value) bool { return !h.parents[key(state)] }

// properDescendant reports whether d is below a: a child of a, or of one
// of a's descendants.
func (h *hierarchy) properDescendant(d, a constant.Value) bool {
	for _, s := range h.path(d)[1:] {
		if key(s) == key(a) {
			return true
		}
	}
	return false
}

// path returns state and its ancestors, innermost first. A cycle ends the
// path where it closes.
func (h *hierarchy) path(state constant.Value) []constant.Value {
	out := []constant.Value{state}
	seen := map[string]bool{key(state): true}
	for {
		p, ok := h.parent[key(out[len(out)-1])]
		if !ok || seen[key(p)] {
			return out
		}
		seen[key(p)] = true
		out = append(out, p)
	}
}
