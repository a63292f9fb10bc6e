package session

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/connfsm/connfsm"
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
	a := &Attempt{ReadLimit: c.cfg.readLimit}
	conn, err := c.dial(dctx, a)
	if a.sent.Load() && ctx.Err() == nil {
		c.countDial(began)
	}
	if a.reached.Load() && pass != nil {
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
func (c *Client) dial(ctx context.Context, a *Attempt) (conn Conn, err error) {
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
