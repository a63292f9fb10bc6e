package wsconn

import "context"

// readerTask is one of Alive's tasks: it hands each data message from the
// pump to the handler, in order, one at a time, and returns the read error
// when the connection fails (Lost). Heartbeat replies and the peer's
// application pings never get here unless asked for (see classify).
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
