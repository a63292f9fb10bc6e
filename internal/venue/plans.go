package venue

import (
	"slices"
	"sync"
)

// Plans decides what each connection plays: the script's n-th plan for
// the n-th connection, then the plans queued by Next, then what choose
// returns, then the default. B is a venue's behaviour type. Its methods
// are safe for concurrent use.
type Plans[B any] struct {
	mu     sync.Mutex
	n      int
	script [][]B
	queue  [][]B
	def    []B
}

// NewPlans returns plans playing script first, then def.
func NewPlans[B any](script [][]B, def []B) *Plans[B] {
	return &Plans[B]{script: script, def: def}
}

// Next queues b for the next connection no script plan covers.
func (p *Plans[B]) Next(b []B) {
	p.mu.Lock()
	p.queue = append(p.queue, slices.Clone(b))
	p.mu.Unlock()
}

// SetDefault changes the default, from the next connection on.
func (p *Plans[B]) SetDefault(b []B) {
	p.mu.Lock()
	p.def = slices.Clone(b)
	p.mu.Unlock()
}

// Pick numbers the next connection (from 1) and returns its number and
// plan. choose, if not nil, runs without the lock held; a nil result
// from it leaves the plan to the default.
func (p *Plans[B]) Pick(choose func(n int) []B) (int, []B) {
	p.mu.Lock()
	p.n++
	n := p.n
	switch {
	case n <= len(p.script):
		plan := p.script[n-1]
		p.mu.Unlock()
		return n, plan
	case len(p.queue) > 0:
		plan := p.queue[0]
		p.queue = p.queue[1:]
		p.mu.Unlock()
		return n, plan
	}
	def := p.def
	p.mu.Unlock()
	if choose != nil {
		if plan := choose(n); plan != nil {
			return n, plan
		}
	}
	return n, def
}

// Clone copies each plan, so that a caller's slices are not shared.
func Clone[P ~[]B, B any](plans []P) [][]B {
	var out [][]B
	for _, p := range plans {
		out = append(out, slices.Clone([]B(p)))
	}
	return out
}
