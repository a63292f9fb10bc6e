package session

import (
	"context"
	"fmt"

	"github.com/connfsm/connfsm"
)

// Reconnect drops the connection and dials again: to pick up fresh
// credentials (WithCredentials), or to move to another server behind the
// same URL. It is no failure: the retry policy sees KindReconnect, which by
// default spends no retry budget and dials at once (the storm guard still
// applies). The subscriptions are replayed on the new connection as on any
// other.
//
// Called from outside, Reconnect returns once the old connection is closed
// (the client has left Alive), or with ctx's cause if ctx ends first; the
// new connection comes up after it, as Dial's did. Called from inside (an
// OnMessage handler's context), it starts the reconnect and returns at
// once. While not Alive it does nothing, as the lifecycle's table says
// (an attempt is already running, or the client is closing), and returns
// nil; once Closed it returns ErrClosed.
//
// Reconnect does not wait for the new connection: a Send right after it
// fails with ErrNotConnected under the default send policy. Call Ready to
// wait for it.
func (c *Client) Reconnect(ctx context.Context) error {
	if ctx == nil {
		return errNilContext("Reconnect")
	}
	s := c.sess.Load()
	if err := c.m.Post(connfsm.Reconnect, nil); err != nil {
		return ErrClosed
	}
	if s == nil || c.m.Inside(ctx) || !c.m.In(connfsm.Alive) {
		return nil
	}
	err := c.m.Await(ctx, func(m *machine) bool { return c.sess.Load() != s || !m.In(connfsm.Alive) })
	if err != nil && !stopped(c.m) {
		return fmt.Errorf("session: reconnect: %w", err)
	}
	return nil // left Alive, or stopped: the old connection is closed
}

// Ready waits until the client is Ready: a connection Alive, OnConnect,
// the subscriptions' replay and the flush of buffered messages done. It
// returns nil then, ctx's cause if ctx ends first, or the client's Err
// (ErrClosed after Close) if it ends first.
func (c *Client) Ready(ctx context.Context) error {
	if ctx == nil {
		return errNilContext("Ready")
	}
	err := c.m.Await(ctx, isReady)
	if err != nil && stopped(c.m) {
		if e := c.Err(); e != nil {
			return e
		}
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("session: ready: %w", context.Cause(ctx))
	}
	return nil
}
