package session

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

// dialTask is Connecting's task: one attempt of the transport, bounded by
// the handshake timeout, once the dial gate (if any) let it through. It
// emits Connected with the new connection, or DialFailed with the cause.
// If Connecting is left meanwhile (Close), the attempt is cancelled; a
// connection that still arrives is disposed by the lifecycle, never
// leaked.
func (c *Client) dialTask(ctx context.Context, in step, emit emitFn) error {
	began := time.Now()      // the attempt's start, for the storm guard
	pass := c.admit(ctx, in) // the dial gate (WithDialGate), before the handshake's timeout starts
	defer pass.release()
	if err := pass.failure(); err != nil {
		if ctx.Err() == nil {
			emit(connfsm.DialFailed, err)
		}
		return nil
	}
	dctx, cancel := context.WithTimeoutCause(ctx, c.cfg.handshakeTimeout, ErrHandshakeTimeout)
	defer cancel()
	a := &transport.Attempt{ReadLimit: c.cfg.readLimit}
	conn, err := c.dial(dctx, a)
	if a.WasSent() && ctx.Err() == nil {
		c.countDial(began)
	}
	if a.WasReached() && pass != nil {
		pass.reached.Store(true)
	}
	if err == nil && dctx.Err() != nil {
		_ = conn.CloseNow() // it came up as the attempt ended
		err = context.Cause(dctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // Connecting was left; nothing to report
		}
		if errors.Is(context.Cause(dctx), ErrHandshakeTimeout) && !errors.Is(err, ErrHandshakeTimeout) {
			err = fmt.Errorf("%w after %v: %w", ErrHandshakeTimeout, c.cfg.handshakeTimeout, err)
		}
		emit(connfsm.DialFailed, err)
		return nil
	}
	emit(connfsm.Connected, newSession(conn, c.inbound))
	return nil
}

// dial calls the transport, turning a panic into an error.
func (c *Client) dial(ctx context.Context, a *transport.Attempt) (conn transport.Conn, err error) {
	defer func() {
		if p := recover(); p != nil {
			conn, err = nil, fmt.Errorf("session: dial: %w", &tasks.PanicError{Task: "dial", Value: p, Stack: debug.Stack()})
		}
	}()
	conn, err = c.tr.Dial(ctx, a)
	if err == nil && conn == nil {
		err = fmt.Errorf("session: dial: %v returned no connection and no error", c.tr)
	}
	return conn, err
}

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

// WithDialGate sets gate, called before every dial of the client, the
// first and every redial, the dial made only once it lets it through: a
// budget of dials shared with other clients (a venue allows so many
// connections per IP per window; a Pool shares one among its
// connections), or any other reason to hold a dial back.
//
// Before a redial the gate is called in Reconnecting, once the retry
// policy's delay and the storm guard's have passed; the time it held the
// dial is part of the Wait that ends Reconnecting (Wait.Gate, and
// WaitDialGate is its Reason if the gate held the dial longer than the rest
// of the wait). The first dial has no Reconnecting before it: the gate is
// called in Connecting, before the handshake and its timeout start.
//
// An error from the gate, other than its ctx's, means the dial must not be
// made: the attempt fails as a dial does (DialFailed, then the retry policy
// sees KindDial, its Err wrapping the gate's; transient by default). So
// does a panic in the gate, with a *tasks.PanicError. A nil gate is a
// configuration error.
func WithDialGate(gate DialGate) Option {
	return func(c *config) {
		if gate == nil {
			c.problems = append(c.problems, errors.New("DialGate: nil func"))
			return
		}
		c.dialGate = gate
	}
}

// gatePass is what the gate answered for one dial: done, or the error
// that fails it.
type gatePass struct {
	done     func(reached bool)
	err      error
	reached  atomic.Bool // the dial got a connection
	released atomic.Bool
}

// release calls the gate's done once, however often it is called.
func (p *gatePass) release() {
	if p != nil && p.done != nil && p.released.CompareAndSwap(false, true) {
		p.done(p.reached.Load())
	}
}

// Dispose releases the dial gate's admission of a wait whose dial is never
// made: the lifecycle calls it (see fsm.Disposer) when the RetryDue it is
// the payload of is not consumed, because the client closed first. It does
// nothing otherwise, and callers need never call it.
func (w *Wait) Dispose() { w.pass.release() }

// callGate calls the gate, turning a panic into an error.
func callGate(ctx context.Context, gate DialGate) (p *gatePass) {
	defer func() {
		if r := recover(); r != nil {
			p = &gatePass{err: fmt.Errorf("session: dial gate: %w", &tasks.PanicError{Task: "dial gate", Value: r, Stack: debug.Stack()})}
		}
	}()
	done, err := gate(ctx)
	if err != nil {
		return &gatePass{err: fmt.Errorf("session: dial gate: %w", err)}
	}
	return &gatePass{done: done}
}

// passGate holds a redial at the dial gate, if there is one, once the rest
// of the wait w is over, and adds the time it held it to w. It reports
// false if ctx ended meanwhile; the gate's answer goes with w to the dial.
func (c *Client) passGate(ctx context.Context, w *Wait) bool {
	gate := c.cfg.dialGate
	if gate == nil {
		return true
	}
	start := time.Now()
	p := callGate(ctx, gate)
	if ctx.Err() != nil {
		p.release()
		return false
	}
	w.pass = p
	w.Gate = time.Since(start)
	if w.Gate > w.Delay {
		w.Reason = WaitDialGate
	}
	w.Delay += w.Gate
	return true
}

// admit returns the gate's answer for the dial about to be made: the one
// Reconnecting's wait carries (in, the step that entered Connecting, has
// it as its payload), or, for the first dial, the gate's, waited for now;
// nil, which lets the dial through, without a gate. The dial task releases
// it once the dial has ended.
func (c *Client) admit(ctx context.Context, in step) *gatePass {
	if w, ok := in.Payload.(*Wait); ok && w.pass != nil {
		return w.pass
	}
	if c.cfg.dialGate == nil {
		return nil
	}
	return callGate(ctx, c.cfg.dialGate)
}

// failure is the error that fails the dial, or nil.
func (p *gatePass) failure() error {
	if p == nil {
		return nil
	}
	return p.err
}

// DialBudget is a budget of dials shared by the clients whose dial gate it
// is (WithDialGate(b.Admit), or a Pool's PoolConfig.DialBudget): at most N
// dials within any window of its length, as venues limit connections per
// IP per window (Binance: 300 per 5 minutes). Its methods are safe for
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
// positive: otherwise the error is a *ConfigError naming the bad value.
func NewDialBudget(n int, window time.Duration) (*DialBudget, error) {
	var p []error
	if n <= 0 {
		p = append(p, fmt.Errorf("DialBudget: dials must be positive, got %d", n))
	}
	if window <= 0 {
		p = append(p, fmt.Errorf("DialBudget: window must be positive, got %v", window))
	}
	if len(p) > 0 {
		return nil, &ConfigError{Problems: p}
	}
	return &DialBudget{n: n, window: window, turn: make(chan struct{}, 1), changed: make(chan struct{})}, nil
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
// are admitted in the order they called.
func (b *DialBudget) Admit(ctx context.Context) (done func(reached bool), err error) {
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
