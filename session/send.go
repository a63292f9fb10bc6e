package session

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/connfsm/connfsm"
)

// Send writes a data message. What it does is decided by the lifecycle's
// state:
//
//   - Ready: the message is written on the caller's goroutine, and Send
//     returns once the transport has it, or an error wrapping
//     ErrNotConnected if the connection broke during the write.
//   - Syncing (Alive, while OnConnect, the subscriptions' replay and the
//     flush of buffered messages run): Send waits for Ready, so a
//     message never overtakes the session's setup; called from inside the
//     sync itself (with the context OnConnect was given), it writes at
//     once.
//   - Connecting, Reconnecting: the SendPolicy applies: fail fast with
//     ErrNotConnected (the default), or keep the message in a buffer
//     bounded by count and bytes, flushed in order in the next Syncing,
//     before any newer message; a message that does not fit is not kept,
//     and Send returns an error wrapping ErrBufferFull.
//   - Closing, Closed: ErrClosed.
//
// With a rate limiter (WithRateLimit) every write waits for it first: a
// Send's, OnConnect's, the subscriptions' replay and the buffer's flush;
// the wait fails at once with ErrClosed when the client closes.
//
// A ctx that is already done fails the send before anything is touched.
// If ctx ends during the write itself, the connection is closed (a
// coder/websocket rule) and counts as Lost. A buffered message that is
// never written (the client closes first) is counted in Stats.Unsent and in
// Close's error: nothing is lost silently.
func (c *Client) Send(ctx context.Context, typ MessageType, data []byte) error {
	if err := c.checkOut(typ, data); err != nil {
		return err
	}
	if ctx == nil {
		return errNilContext("Send")
	}
	s, err := c.sendable(ctx)
	if err != nil {
		return err
	}
	if s == nil { // not connected: the send policy decides
		return c.buffer(typ, data)
	}
	return c.paced(ctx, s, typ, data)
}

// sendable waits, as Send describes, until the state allows a write, and
// returns the connection to write on, or nil when the state is Connecting
// or Reconnecting. With nil, bufMu is held, so that the sync's flush cannot
// run between the decision and the buffering: the caller must unlock it.
func (c *Client) sendable(ctx context.Context) (*session, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("session: send: %w", context.Cause(ctx))
		}
		switch st := c.m.State(); st {
		case connfsm.Ready, connfsm.Syncing:
			s := c.sess.Load()
			if s != nil && (st == connfsm.Ready || c.inSync(ctx, s)) {
				return s, nil
			}
			// Syncing, or Alive being left (its connection already
			// dropped): wait for the next state.
			if err := c.awaitChange(ctx, st); err != nil {
				return nil, err
			}
		case connfsm.Closing, connfsm.Closed:
			return nil, ErrClosed
		default:
			c.bufMu.Lock()
			if st := c.m.State(); st == connfsm.Connecting || st == connfsm.Reconnecting {
				return nil, nil
			}
			c.bufMu.Unlock() // moved on meanwhile: decide again
		}
	}
}

// awaitChange waits until the state is no longer st or a transition
// happened (a new connection may be Ready already), the machine stops, or
// ctx ends.
func (c *Client) awaitChange(ctx context.Context, st connfsm.State) error {
	epoch := c.m.Epoch()
	err := c.m.Await(ctx, func(m *machine) bool { return m.State() != st || m.Epoch() != epoch })
	if err != nil && !stopped(c.m) {
		return fmt.Errorf("session: send: %w", err)
	}
	return nil // the caller decides again; on a stopped machine, ErrClosed
}

// SendText sends a text message; see Send.
func (c *Client) SendText(ctx context.Context, text string) error {
	return c.Send(ctx, Text, []byte(text))
}

// SendJSON sends v encoded as JSON in a text message; see Send.
func (c *Client) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: encode JSON: %w", err)
	}
	return c.Send(ctx, Text, b)
}

// buffer applies the send policy; bufMu is held, and released here.
func (c *Client) buffer(typ MessageType, data []byte) error {
	defer c.bufMu.Unlock()
	switch {
	case c.cfg.send.Buffer == 0:
		return ErrNotConnected
	case c.buf.len() >= c.cfg.send.Buffer:
		return fmt.Errorf("%w: %d messages kept, the most SendPolicy.Buffer allows", ErrBufferFull, c.buf.len())
	case c.buf.size()+len(data) > c.cfg.send.BufferBytes:
		return fmt.Errorf("%w: %d bytes kept, %d more would pass SendPolicy.BufferBytes (%d)",
			ErrBufferFull, c.buf.size(), len(data), c.cfg.send.BufferBytes)
	}
	if c.buf == nil {
		c.buf = new(sendBuffer)
	}
	c.buf.frames = append(c.buf.frames, frame{typ: typ, data: slices.Clone(data)})
	c.buf.bytes += len(data)
	return nil
}

// sendBuffer holds the messages Send kept while not Alive (SendPolicy),
// under Client.bufMu.
type sendBuffer struct {
	frames []frame
	bytes  int // payload bytes in frames
}

// len returns the number of messages kept; a nil buffer keeps none.
func (b *sendBuffer) len() int {
	if b == nil {
		return 0
	}
	return len(b.frames)
}

// size returns the payload bytes kept.
func (b *sendBuffer) size() int {
	if b == nil {
		return 0
	}
	return b.bytes
}

// paced writes on s once the rate limiter allows it.
func (c *Client) paced(ctx context.Context, s *session, typ MessageType, data []byte) error {
	if err := c.pace(ctx); err != nil {
		return err
	}
	return c.write(ctx, s, typ, data)
}

// write writes one message on s; a done ctx fails it before the socket is
// touched: coder/websocket closes a connection whose write is cancelled.
func (c *Client) write(ctx context.Context, s *session, typ MessageType, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("session: send: %w", context.Cause(ctx))
	}
	if err := s.conn.Write(ctx, typ, data); err != nil {
		return fmt.Errorf("%w: write failed: %w", ErrNotConnected, err)
	}
	c.stats.messagesOut.Add(1)
	c.stats.bytesOut.Add(uint64(len(data)))
	return nil
}

// pace waits for the rate limiter, if there is one; the wait fails at once
// with ErrClosed when the client closes (Closing or Closed is entered): it
// waits on a context bound to the lifecycle (untilClosing).
func (c *Client) pace(ctx context.Context) error {
	l := c.cfg.limiter
	if l == nil {
		return nil
	}
	lctx, cancel := c.untilClosing(ctx)
	defer cancel()
	if err := l.Wait(lctx); err != nil {
		if ctx.Err() == nil && lctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("session: rate limiter: %w", err)
	}
	return nil
}
