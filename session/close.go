package session

import (
	"context"
	"fmt"

	"github.com/connfsm/connfsm"
)

// Close closes the client: messages already accepted are written, a close
// frame with status 1000 is sent and the peer's is awaited, bounded by the
// close timeout (WithCloseTimeout, a state timeout of Closing) and by ctx.
// Closing while connecting or while backing off ("closed while
// disconnected") cancels the attempt or the timer at once. Close returns
// once the client is Closed and every task has returned; if ctx ends
// first, the connection is aborted without waiting for the peer and Close
// returns ctx's cause, still after Closed: at once, unless a function of
// the caller's ignores its context (an OnMessage or OnConnect handler, a
// credentials function, a dial gate, a retry policy). That holds Close up
// to the lifecycle's join timeout (fsm.DefaultJoinTimeout), when the
// function is left behind as a straggler. A nil ctx is
// context.Background().
//
// Close is idempotent and safe from any goroutine. Called from inside the
// client, with the context an OnConnect or OnMessage handler was given, it
// starts the close and returns at once: waiting there would wait for the
// caller itself.
//
// Messages still buffered when Close is called while Alive (during the
// sync) are written before the close frame, and a write under way when it
// is called is finished first. The error is nil, ctx's cause, or one
// wrapping ErrUnsent with the number of accepted messages that were never
// written: buffered while no connection was up, or whose write failed.
func (c *Client) Close(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	c.requestClose(ErrClosed)
	if c.m.Inside(ctx) {
		return nil
	}
	select {
	case <-c.m.Done():
	case <-ctx.Done():
		if s := c.sess.Load(); s != nil {
			s.abort()
		}
		<-c.m.Done()
		return fmt.Errorf("session: close: %w", context.Cause(ctx))
	}
	if n := c.stats.unsent.Load(); n > 0 {
		return fmt.Errorf("%w: %d message(s)", ErrUnsent, n)
	}
	return nil
}

// requestClose posts Close, with why as its payload (ErrClosed, or the
// lifetime's cause), rather than firing it: processed on the caller's
// goroutine, the step would join Alive's tasks there, beyond ctx's reach.
func (c *Client) requestClose(cause error) {
	_ = c.m.Post(connfsm.Close, cause) // ErrStopped once closed: nothing to do
}

// closerTask is Closing's task: it writes the messages still buffered (a
// Close during the sync leaves them there), then the close handshake on
// the connection Alive handed over. Closing's timeout (the close timeout)
// ends the state, and with it this task's context, which aborts the
// connection: the pump's read fails (the socket closed, or its context
// cancelled; see session.abort), which unblocks the handshake even against
// a peer that never answers.
func (c *Client) closerTask(ctx context.Context, _ step, emit emitFn) error {
	s := c.sess.Load() // handed over by Alive: Close's step carries no connection
	stop := context.AfterFunc(ctx, s.abort)
	defer stop()
	c.bufMu.Lock()
	_ = c.flush(ctx, s) // a failure is counted; the handshake is tried anyway
	c.bufMu.Unlock()
	err := s.conn.Close(StatusNormalClosure, "")
	s.abort()
	s.wait()
	emit(connfsm.CloseDone, err)
	return nil
}
