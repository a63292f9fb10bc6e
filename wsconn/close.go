package wsconn

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm"
)

// Close closes the client: messages already accepted are written, a close
// frame with status 1000 is sent and the peer's is awaited, bounded by the
// close timeout (WithCloseTimeout) and by ctx. Closing while connecting or
// while backing off ("closed while disconnected") cancels the attempt or the
// timer at once. Close returns once the client is Closed and every task has
// returned; if ctx ends first, the connection is aborted without waiting
// for the peer and Close returns ctx's cause, still after Closed: at once,
// unless an OnMessage or OnConnect handler ignores its context, which holds
// Close up to the lifecycle's join timeout (fsm.DefaultJoinTimeout), when
// the handler is left behind as a straggler.
//
// Close is idempotent and safe from any goroutine. Called from inside the
// client, with the context an OnConnect or OnMessage handler was given, it
// starts the close and returns at once: waiting there would wait for the
// caller itself.
//
// Messages still buffered when Close is called while Alive (during
// OnConnect or the flush) are written before the close frame. The error is
// nil, ctx's cause, or one wrapping ErrUnsent with the number of accepted
// messages that could not be written: buffered while no connection was
// up, or whose write failed (a write in progress when Close is called
// during the flush is cancelled, and coder/websocket then closes the
// connection).
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
		if s := c.live.Load(); s != nil {
			s.abort()
		}
		<-c.m.Done()
		return fmt.Errorf("wsconn: close: %w", context.Cause(ctx))
	}
	c.errMu.Lock()
	n := c.unsent
	c.errMu.Unlock()
	if n > 0 {
		return fmt.Errorf("%w: %d message(s)", ErrUnsent, n)
	}
	return nil
}

// requestClose posts Close rather than firing it: processed on the caller's
// goroutine, the step would join Alive's tasks there, beyond ctx's reach.
func (c *Client) requestClose(cause error) {
	c.markClosing(cause)
	_ = c.m.Post(connfsm.Close, nil) // ErrStopped once closed: nothing to do
}

// markClosing records that a close was asked, and why: sends fail from now
// on, waits on their behalf end, and no dial starts.
func (c *Client) markClosing(cause error) {
	c.closeCause.CompareAndSwap(nil, &cause)
	c.closing.Store(true)
	c.closedCancel()
}

// closedCtx is cancelled as soon as a close is requested: waits on behalf of
// a send end then.
func (c *Client) closedCtx() context.Context { return c.closed }

// closerTask is Closing's task: it writes the messages still buffered (a
// Close during OnConnect or the flush leaves them there), then the close
// handshake on the connection Alive handed over, all bounded by the close
// timeout. The pump keeps reading meanwhile so the peer's close frame is
// seen; aborting makes its read fail (the socket closed, or its context
// cancelled; see session.abort), which unblocks the handshake even against
// a peer that never answers.
func (c *Client) closerTask(ctx context.Context, emit emitFn) error {
	s := c.sess
	stop := context.AfterFunc(ctx, s.abort)
	t := time.AfterFunc(c.cfg.closeTimeout, s.abort)
	c.bufMu.Lock()
	_ = c.flush(s.ctx, s) // a failure is counted; the handshake is tried anyway
	c.bufMu.Unlock()
	err := s.conn.Close(websocket.StatusNormalClosure, "")
	t.Stop()
	stop()
	s.abort()
	s.wait()
	emit(connfsm.CloseDone, err)
	return nil
}
