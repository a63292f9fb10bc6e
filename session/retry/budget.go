package retry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm/session/transport"
)

// DialGate holds a dial back until it may be made: it returns nil once the
// dial may go ahead, with done, which the client calls once that dial has
// ended (its handshake answered, failed or abandoned) or will not be made,
// or an error, and then holds nothing. done may be nil; the client calls
// it at most once. reached says whether the dial got a connection to the
// venue's address (the HTTP client's transport connected): a dial refused
// before that, by a venue that is down, or never made, did not reach the
// venue, which cannot have counted it.
//
// ctx ends when the client leaves the state the gate is called from (on
// Close, for instance): the gate must then return, with ctx's error.
//
// (*DialBudget).Admit is a DialGate: a budget of dials shared by several
// clients.
type DialGate func(ctx context.Context) (done func(reached bool), err error)

// DialBudget is a budget of dials shared by the clients whose dial gate it is
// (session.WithDialGate(b.Admit), or a Pool's session.PoolConfig.DialBudget):
// at most N dials within any window of its length, as venues limit connections
// per IP per window (Binance: 300 per 5 minutes). Its methods are safe for
// concurrent use; make one with NewDialBudget.
//
// A dial counts from its admission until a window after it has ended (its
// handshake answered, failed or abandoned). The venue sees the dial at
// some moment in between, so no window of the venue's, wherever it
// starts, holds more than N of the dials the budget let through, however
// long their handshakes took: a budget equal to the venue's limit is never
// exceeded at the venue. A dial that did not reach the venue (refused
// while it is down: see DialGate) stops counting when it ends, since the
// venue cannot have counted it: a restart does not spend the budget on
// the dials made while the venue was away. Dials wait their turn in the
// order they asked.
type DialBudget struct {
	n      int
	window time.Duration
	turn   chan struct{} // held by the one Admit whose turn it is

	mu       sync.Mutex
	inFlight int         // admitted, not yet ended
	ended    []time.Time // when the dials ended within the last window, oldest first
	changed  chan struct{}

	admitted atomic.Uint64
	waiting  atomic.Int64
}

// NewDialBudget returns a budget of n dials per window. n and window must be
// positive: otherwise the error is a *transport.ConfigError naming the bad
// value.
func NewDialBudget(n int, window time.Duration) (*DialBudget, error) {
	var p []error
	if n <= 0 {
		p = append(p, fmt.Errorf("DialBudget: dials must be positive, got %d", n))
	}
	if window <= 0 {
		p = append(p, fmt.Errorf("DialBudget: window must be positive, got %v", window))
	}
	if len(p) > 0 {
		return nil, &transport.ConfigError{Problems: p}
	}
	return &DialBudget{n: n, window: window, turn: make(chan struct{}, 1), changed: make(chan struct{})}, nil
}

// check refuses a budget not made by NewDialBudget (its zero value, or a
// nil pointer), which would hold every dial for ever.
func (b *DialBudget) check() error {
	if b == nil || b.turn == nil {
		return &transport.ConfigError{Problems: []error{errors.New("DialBudget: not made by NewDialBudget")}}
	}
	return nil
}

// Dials returns the number of dials per window.
func (b *DialBudget) Dials() int { return b.n }

// Window returns the window's length.
func (b *DialBudget) Window() time.Duration { return b.window }

// String returns the budget as "300/5m0s".
func (b *DialBudget) String() string { return fmt.Sprintf("%d/%v", b.n, b.window) }

// Admit is a DialGate: it waits until a dial fits the budget, counts it,
// and returns done, to be called once the dial has ended or will not be
// made, with whether it reached the venue (the budget counts the dial as
// under way until then, and for a window more if it reached the venue).
// It returns ctx's cause, and counts nothing, if ctx ends first. Callers
// are admitted in the order they called. A DialBudget not made by
// NewDialBudget admits nothing: Admit returns a *transport.ConfigError.
func (b *DialBudget) Admit(ctx context.Context) (done func(reached bool), err error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	select {
	case b.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-b.turn }()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		b.mu.Lock()
		now := time.Now()
		b.forget(now)
		if b.inFlight+len(b.ended) < b.n {
			b.inFlight++
			b.mu.Unlock()
			b.admitted.Add(1)
			var once sync.Once
			return func(reached bool) { once.Do(func() { b.end(reached) }) }, nil
		}
		var expire <-chan time.Time
		if len(b.ended) > 0 {
			d := b.ended[0].Add(b.window).Sub(now)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			expire = timer.C
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-expire:
		case <-changed: // a dial ended
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// end counts an admitted dial as ended now: for a window more if it
// reached the venue, not at all otherwise.
func (b *DialBudget) end(reached bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
	if reached {
		b.ended = append(b.ended, time.Now())
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// forget drops the dials that ended a window or more before now; mu is
// held.
func (b *DialBudget) forget(now time.Time) {
	i := 0
	for i < len(b.ended) && now.Sub(b.ended[i]) >= b.window {
		i++
	}
	if i > 0 {
		b.ended = append(b.ended[:0], b.ended[i:]...)
	}
}

// DialBudgetStats is a snapshot of a DialBudget.
type DialBudgetStats struct {
	Admitted uint64 // dials let through so far
	// Counted is the dials the budget counts now: under way, or ended
	// within the last window after reaching the venue. Admit waits while
	// it is Dials.
	Counted int
	Waiting int // callers of Admit waiting now
}

// Stats returns a snapshot of the budget.
func (b *DialBudget) Stats() DialBudgetStats {
	b.mu.Lock()
	b.forget(time.Now())
	counted := b.inFlight + len(b.ended)
	b.mu.Unlock()
	return DialBudgetStats{Admitted: b.admitted.Load(), Counted: counted, Waiting: int(b.waiting.Load())}
}
