package wsconn

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// heartbeatTask is one of Alive's tasks: a ping every interval, Lost if the
// pong does not come within the pong timeout. A peer whose messages the
// handler has not taken yet is alive: its pong is queued behind them, so a
// slow consumer is not mistaken for a dead peer. It belongs to the connection's
// Alive entry: when the reader sees the connection die, the lifecycle
// cancels this task before the failure is even processed, so it never pings
// a dead connection.
func (c *Client) heartbeatTask(ctx context.Context, _ emitFn) error {
	s := c.sess
	t := time.NewTicker(c.cfg.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if ctx.Err() != nil {
			return nil
		}
		if s.dead() {
			// Counted, for the invariant "no ping on a dead connection";
			// the reader's failure is about to end this state.
			s.deadPings.Add(1)
			return nil
		}
		if s.parked.Load() {
			// A slow handler holds the reader: the peer is sending, and a
			// pong would wait behind its messages. Backpressure is no dead
			// peer; ping again once the handler has caught up.
			continue
		}
		s.pings.Add(1)
		pctx, cancel := context.WithTimeout(ctx, c.cfg.pongTimeout)
		start, reads := time.Now(), s.reads.Load()
		err := s.conn.Ping(pctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded) && s.peerSending(reads):
			continue // the pong is behind messages still being read
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("%w: no pong within %v", ErrPongTimeout, c.cfg.pongTimeout)
		case err != nil:
			return s.failed(ctx, fmt.Errorf("wsconn: ping: %w", err), c.cfg.pongTimeout)
		}
		c.stats.lastRTT.Store(int64(time.Since(start)))
	}
}

// readerTask is one of Alive's tasks: it hands each message from the pump to
// the handler, in order, one at a time, and returns the read error when the
// connection fails (Lost).
func (c *Client) readerTask(ctx context.Context, _ emitFn) error {
	s := c.sess
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return s.lostErr()
		case f := <-s.frames:
			c.stats.messagesIn.Add(1)
			c.stats.bytesIn.Add(uint64(len(f.data)))
			if h := c.cfg.onMessage; h != nil {
				h(ctx, Message{Type: f.typ, Data: f.data, Epoch: s.epoch})
			}
		}
	}
}
