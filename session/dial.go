package session

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/retry"
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
func WithDialGate(gate retry.DialGate) Option {
	return unlessNil(gate == nil, "DialGate: nil func", func(c *config) { c.dialGate = gate })
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
func callGate(ctx context.Context, gate retry.DialGate) (p *gatePass) {
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
		w.Reason = retry.WaitDialGate
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
