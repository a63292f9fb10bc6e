package wsconn

import "context"

// readerTask is one of Alive's tasks: it hands each data message from the
// pump to the handler, in order, one at a time, and returns the read error
// when the connection fails (Lost). Heartbeat replies, the peer's
// application pings and the replies Requests wait for never get here
// unless asked for (see session.sort and requests).
//
// OnMessage calls never overlap, even across connections: a handler that
// ignored its context and was left running when its connection was given
// up must return before the next connection's reader calls the handler
// again (that reader waits, and the peer is slowed down meanwhile).
func (c *Client) readerTask(ctx context.Context, _ emitFn) error {
	s := c.sess.Load()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return s.lostErr()
		case f := <-s.frames:
			c.stats.messagesIn.Add(1)
			c.stats.bytesIn.Add(uint64(len(f.data)))
			h := c.cfg.onMessage
			if h == nil {
				continue
			}
			// A message read is delivered, even when Alive is being left
			// (the handler's ctx says so), unless a handler left behind
			// by an earlier connection still runs: then Alive's end wins.
			select {
			case c.handling <- struct{}{}:
			default:
				select {
				case c.handling <- struct{}{}:
				case <-ctx.Done():
					return nil // the message goes with its connection
				}
			}
			c.handle(ctx, h, Message{Type: f.typ, Data: f.data, Epoch: s.epoch})
		}
	}
}

// handle calls the handler holding the right to, and gives it back however
// the handler ends (a panic fails the reader, and must not keep the next
// connection's reader waiting for ever).
func (c *Client) handle(ctx context.Context, h func(context.Context, Message), m Message) {
	defer func() { <-c.handling }()
	h(ctx, m)
}
