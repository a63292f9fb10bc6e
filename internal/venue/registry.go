package venue

import (
	"context"
	"slices"
	"sync"
)

// Conn is a venue's connection as the registry sees it: its number (from
// 1, in the order connections were made) and its record R.
type Conn[R any] interface {
	comparable
	N() int
	Record() R
}

// Registry keeps a venue's connections in the order they were made: every
// one recorded, and which are open. Its methods are safe for concurrent
// use.
type Registry[C Conn[R], R any] struct {
	mu   sync.Mutex
	all  []C
	open map[C]struct{}
}

// Add records c, not yet open.
func (r *Registry[C, R]) Add(c C) {
	r.mu.Lock()
	r.all = append(r.all, c)
	r.mu.Unlock()
}

// Open marks c open.
func (r *Registry[C, R]) Open(c C) {
	r.mu.Lock()
	if r.open == nil {
		r.open = map[C]struct{}{}
	}
	r.open[c] = struct{}{}
	r.mu.Unlock()
}

// End marks c no longer open, and forgets it if forget is true (a venue
// that does not record).
func (r *Registry[C, R]) End(c C, forget bool) {
	r.mu.Lock()
	delete(r.open, c)
	if forget {
		if i := slices.Index(r.all, c); i >= 0 {
			r.all = slices.Delete(r.all, i, i+1)
		}
	}
	r.mu.Unlock()
}

// Live returns the open connections, in order.
func (r *Registry[C, R]) Live() []C {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []C
	for _, c := range r.all {
		if _, ok := r.open[c]; ok {
			out = append(out, c)
		}
	}
	return out
}

// Records returns the record of every connection recorded, in order.
func (r *Registry[C, R]) Records() []R {
	r.mu.Lock()
	all := slices.Clone(r.all)
	r.mu.Unlock()
	out := make([]R, 0, len(all))
	for _, c := range all {
		out = append(out, c.Record())
	}
	return out
}

// Record returns the record of the connection numbered n, if it is
// recorded.
func (r *Registry[C, R]) Record(n int) (R, bool) {
	r.mu.Lock()
	i := slices.IndexFunc(r.all, func(c C) bool { return c.N() == n })
	var c C
	if i >= 0 {
		c = r.all[i]
	}
	r.mu.Unlock()
	if i < 0 {
		var zero R
		return zero, false
	}
	return c.Record(), true
}

// Changes tells waiters that something changed. The zero value is ready
// to use; its methods are safe for concurrent use.
type Changes struct {
	mu sync.Mutex
	ch chan struct{}
}

func (ch *Changes) current() chan struct{} {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.ch == nil {
		ch.ch = make(chan struct{})
	}
	return ch.ch
}

// Notify wakes every Await.
func (ch *Changes) Notify() {
	ch.mu.Lock()
	if ch.ch != nil {
		close(ch.ch)
		ch.ch = nil
	}
	ch.mu.Unlock()
}

// Await waits until cond returns true, checking it now and after each
// Notify, and returns nil, or ctx's cause if ctx ends first.
func (ch *Changes) Await(ctx context.Context, cond func() bool) error {
	for {
		c := ch.current()
		if cond() {
			return nil
		}
		select {
		case <-c:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}
