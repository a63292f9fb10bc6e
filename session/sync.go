package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/connfsm/connfsm"
)

// syncKey marks the context of a connection's sync, so that Send called
// from OnConnect writes at once instead of waiting for the Ready the sync
// itself leads to.
type syncKey struct{}

// inSync reports whether ctx comes from s's sync: OnConnect's, or the
// replay's.
func (c *Client) inSync(ctx context.Context, s *session) bool {
	return ctx.Value(syncKey{}) == s
}

// syncTask is Syncing's task: it sets the session up, then releases the
// connection for sends. In order: OnConnect (log in, with Request for its
// ack), the replay of the subscriptions (Subscribe), in their order, each
// paced by the rate limiter, then the wait for their acks (a subscription
// refused or not acknowledged in time fails alone), and the flush of the
// messages buffered while disconnected; then it emits Synced, and the
// lifecycle moves to Ready. An error from OnConnect or a write fails the
// sync: Lost, and the heartbeat and reader stop with it (Alive is the
// failure's scope).
func (c *Client) syncTask(ctx context.Context, in step, emit emitFn) error {
	s := in.Payload.(*session) // the connection that entered Alive, and Syncing with it
	sctx := context.WithValue(ctx, syncKey{}, s)
	if fn := c.cfg.onConnect; fn != nil {
		if err := fn(sctx, &Session{s: s, c: c}); err != nil {
			return fmt.Errorf("session: OnConnect: %w", err)
		}
	}
	if err := c.replay(sctx, s); err != nil {
		return err
	}
	c.bufMu.Lock()
	defer c.bufMu.Unlock()
	if err := c.flush(ctx, s); err != nil {
		return err
	}
	if ctx.Err() == nil {
		emit(connfsm.Synced, nil)
	}
	return nil
}

// flush writes the buffered messages to s in order, each once the rate
// limiter allows it; bufMu is held. It stops, leaving the rest buffered
// (for Closing's flush, or the next connection's), once ctx is done, and
// starts no write then. A write is made with the connection's own context,
// not ctx: a Close that cuts the sync short must not cut a message in half
// (coder/websocket closes a connection whose write is cancelled), and the
// close handshake then writes what is left before its close frame. A
// message whose write fails is counted as unsent, and the error returned.
func (c *Client) flush(ctx context.Context, s *session) error {
	for c.buf.len() > 0 && ctx.Err() == nil {
		if err := c.pace(ctx); err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return nil // closing: Closing's flush writes the rest
			}
			return err
		}
		b := c.buf
		f := b.frames[0]
		b.frames[0] = frame{}
		b.frames = b.frames[1:]
		b.bytes -= len(f.data)
		if err := c.write(context.Background(), s, f.typ, f.data); err != nil {
			c.stats.unsent.Add(1)
			return err
		}
	}
	if c.buf.len() == 0 {
		c.buf = nil
	}
	return nil
}
