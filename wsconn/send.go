package wsconn

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// Send writes a data message. While the client is Alive the message is
// written on the caller's goroutine (after OnConnect and the flush of
// buffered messages, which Send waits for) and Send returns once the
// transport has it, or an error wrapping ErrNotConnected if
// the connection broke during the write. If ctx ends during the write the
// connection is closed (a coder/websocket rule) and counts as Lost.
//
// While not Alive, the SendPolicy applies: fail fast with ErrNotConnected
// (the default), or keep the message in a buffer bounded by count and
// bytes, flushed in order on the next Alive, before any newer message; a
// message that does not fit is not kept, and Send returns an error
// wrapping ErrBufferFull.
// After Close, Send returns ErrClosed. A buffered message that is never
// written (the client closes first) is counted in Stats.Unsent and in
// Close's error: nothing is lost silently.
//
// With a rate limiter, Send first waits for it; the wait fails at once with
// ErrClosed when the client closes.
func (c *Client) Send(ctx context.Context, typ MessageType, data []byte) error {
	if err := checkType(typ); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if c.closing.Load() {
		return ErrClosed
	}
	if l := c.cfg.limiter; l != nil {
		if err := c.waitLimiter(ctx, l); err != nil {
			return err
		}
	}
	for {
		if s := c.cur.Load(); s != nil {
			return c.write(ctx, s, typ, data)
		}
		if s := c.live.Load(); s != nil && !isClosed(s.gone) && !c.m.Inside(ctx) {
			// Alive, but OnConnect or the flush is still running: wait for
			// the release rather than fail a client that is connected. Not
			// from inside (OnConnect itself): that would wait for itself.
			select {
			case <-s.released:
				continue
			case <-s.gone: // Alive was left: the policy applies
			case <-ctx.Done():
				return fmt.Errorf("wsconn: send: %w", context.Cause(ctx))
			case <-c.closed.Done():
				return ErrClosed
			}
		}
		c.bufMu.Lock()
		if c.cur.Load() != nil { // released meanwhile: write directly
			c.bufMu.Unlock()
			continue
		}
		err := c.buffer(typ, data)
		c.bufMu.Unlock()
		return err
	}
}

// SendText sends a text message; see Send.
func (c *Client) SendText(ctx context.Context, text string) error {
	return c.Send(ctx, Text, []byte(text))
}

// SendJSON sends v encoded as JSON in a text message; see Send.
func (c *Client) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("wsconn: encode JSON: %w", err)
	}
	return c.Send(ctx, Text, b)
}

// buffer applies the send policy; bufMu is held.
func (c *Client) buffer(typ MessageType, data []byte) error {
	switch {
	case c.closing.Load():
		return ErrClosed
	case c.cfg.send.Buffer == 0:
		return ErrNotConnected
	case len(c.buf) >= c.cfg.send.Buffer:
		return fmt.Errorf("%w: %d messages kept, the most SendPolicy.Buffer allows", ErrBufferFull, len(c.buf))
	case c.bufBytes+len(data) > c.cfg.send.BufferBytes:
		return fmt.Errorf("%w: %d bytes kept, %d more would pass SendPolicy.BufferBytes (%d)",
			ErrBufferFull, c.bufBytes, len(data), c.cfg.send.BufferBytes)
	}
	c.buf = append(c.buf, frame{typ: typ, data: slices.Clone(data)})
	c.bufBytes += len(data)
	return nil
}

func (c *Client) write(ctx context.Context, s *session, typ MessageType, data []byte) error {
	if err := s.conn.Write(ctx, typ, data); err != nil {
		return fmt.Errorf("%w: write failed: %w", ErrNotConnected, err)
	}
	c.stats.messagesOut.Add(1)
	c.stats.bytesOut.Add(uint64(len(data)))
	return nil
}

func (c *Client) waitLimiter(ctx context.Context, l Limiter) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(c.closedCtx(), func() { cancel(ErrClosed) })
	defer stop()
	if err := l.Wait(ctx); err != nil {
		if cause := context.Cause(ctx); cause == ErrClosed {
			return ErrClosed
		}
		return fmt.Errorf("wsconn: rate limiter: %w", err)
	}
	return nil
}

// writerTask is one of Alive's tasks: it runs OnConnect, flushes the
// buffered messages in order, then releases the connection for sends and
// returns. An error from OnConnect or a write counts as Lost.
func (c *Client) writerTask(ctx context.Context, _ emitFn) error {
	s := c.sess
	if fn := c.cfg.onConnect; fn != nil {
		if err := fn(ctx, &Session{s: s, c: c}); err != nil {
			return fmt.Errorf("wsconn: OnConnect: %w", err)
		}
	}
	c.bufMu.Lock()
	defer c.bufMu.Unlock()
	if err := c.flush(ctx, s); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil // Alive is being left: the rest stays buffered
	}
	c.cur.Store(s)
	close(s.released)
	c.readyOne.Do(func() { close(c.ready) })
	return nil
}

// flush writes the buffered messages to s in order; bufMu is held. It
// stops, leaving the rest buffered, once ctx is done (for the next Alive,
// or Closing's own flush), and starts no write with a dead ctx:
// coder/websocket closes a connection whose write is cancelled. A message
// whose write fails is counted as unsent, and the error returned.
func (c *Client) flush(ctx context.Context, s *session) error {
	for len(c.buf) > 0 && ctx.Err() == nil {
		f := c.buf[0]
		c.buf[0] = frame{}
		c.buf = c.buf[1:]
		c.bufBytes -= len(f.data)
		if err := c.write(ctx, s, f.typ, f.data); err != nil {
			c.stats.unsent.Add(1)
			c.errMu.Lock()
			c.unsent++ // reported by Close too
			c.errMu.Unlock()
			return err
		}
	}
	if len(c.buf) == 0 {
		c.buf = nil
	}
	return nil
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
