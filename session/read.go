package session

import "context"

// readerTask is Alive's task, across both phases: it starts the
// connection's pump, which reads and calls OnMessage one message at a
// time, in order (session.pump), runs the heartbeat and the data watchdog
// (heartbeat.go), and owns the handler's calls: before it returns, the
// delivery is stopped, the call under way, if any, has returned, and so
// has the hand-out of an inbox (WithSlowConsumer) that makes them. So no
// handler runs outside its Alive, and one that ignores its context holds
// this task, which the lifecycle's join reports as a straggler once its
// timeout has passed.
//
// When it sees a failure (the reads failed, a pong or idle timeout), or
// Alive is left, it ends the handler's context with that cause, lets the
// pump hand over the messages it has read already (session.drain), stops
// the delivery, waits for the call under way, and returns the failure:
// Lost. Nothing read is dropped silently: what is read after the drain
// is counted in Stats.Dropped.
//
// OnMessage calls never overlap, even across connections: a handler that
// ignored its context and was left running when its connection was given
// up must return before the next connection's pump calls the handler again
// (that pump waits, and the peer is slowed down meanwhile).
func (c *Client) readerTask(ctx context.Context, in step, _ emitFn) error {
	s := in.Payload.(*session) // the connection that entered Alive
	s.start(ctx)
	err := c.watch(ctx, s)
	s.endHandler(err)
	s.drain()
	s.joinHandler()
	s.joinHandOut()
	return err
}
