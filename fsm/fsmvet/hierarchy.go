package fsmvet

import (
	"go/constant"
	"go/types"
)

// hierarchy is the nesting of one state type, from its Children calls,
// and its final states, from its Final calls.
type hierarchy struct {
	s       types.Type
	parent  map[string]constant.Value // key(child) → parent
	parents map[string]bool           // key(state) → it has children
	finals  map[string]bool           // key(state) → it is final
	unknown bool                      // a Children or Final call has a non-constant argument
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

// isFinal reports whether state is final: no event is processed in it.
func (h *hierarchy) isFinal(state constant.Value) bool { return h.finals[key(state)] }

// isLeaf reports whether state has no children.
func (h *hierarchy) isLeaf(state constant.Value) bool { return !h.parents[key(state)] }

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
