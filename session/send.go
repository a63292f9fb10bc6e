package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
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
func (c *Client) Send(ctx context.Context, typ transport.MessageType, data []byte) error {
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
	return c.Send(ctx, transport.Text, []byte(text))
}

// SendJSON sends v encoded as JSON in a text message; see Send.
func (c *Client) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: encode JSON: %w", err)
	}
	return c.Send(ctx, transport.Text, b)
}

// buffer applies the send policy; bufMu is held, and released here.
func (c *Client) buffer(typ transport.MessageType, data []byte) error {
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
	c.stats.setBuffered(c.buf.len())
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
func (c *Client) paced(ctx context.Context, s *session, typ transport.MessageType, data []byte) error {
	if err := c.pace(ctx); err != nil {
		return err
	}
	return c.write(ctx, s, typ, data)
}

// write writes one message on s; a done ctx fails it before the socket is
// touched: coder/websocket closes a connection whose write is cancelled.
func (c *Client) write(ctx context.Context, s *session, typ transport.MessageType, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("session: send: %w", context.Cause(ctx))
	}
	if err := s.conn.Write(ctx, typ, data); err != nil {
		return fmt.Errorf("%w: write failed: %w", ErrNotConnected, err)
	}
	c.stats.sent(len(data))
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
	if err := c.flush(ctx, s, c.pace); err != nil {
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
// pace waits for the rate limiter: the sync's fails once the client closes,
// Closing's waits on ctx alone.
func (c *Client) flush(ctx context.Context, s *session, pace func(context.Context) error) error {
	for c.buf.len() > 0 && ctx.Err() == nil {
		if err := pace(ctx); err != nil {
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
		c.stats.setBuffered(b.len())
		if err := c.write(context.Background(), s, f.typ, f.data); err != nil {
			c.stats.more().unsent.Add(1)
			return err
		}
	}
	if c.buf.len() == 0 {
		c.buf = nil
	}
	return nil
}

// Request sends a message and waits for the first received message match
// accepts: a login's ack, a subscription's ack, a JSON-RPC reply with the
// request's id. The reply is taken out of the stream: it is not handed to
// OnMessage. match is called by the connection's reader for every data
// message while the request waits, as it is read, before OnMessage; it
// must be quick, and a match that panics fails the request. While a
// handler runs, the connection is read ahead by one message: a reply that
// comes next is taken at once; one behind a further data message waits
// until the handler returns (a Request made from inside the handler then
// waits for its ctx).
//
// The request is sent as Send sends (it waits for Ready while Syncing,
// unless called from the sync itself, and is paced by the rate limiter),
// but it is never buffered: while not connected it fails at once with
// ErrNotConnected. It fails with an error wrapping ErrNotConnected if the
// connection ends before the reply, ErrClosed once the client closes (a
// request still waiting for its reply when Close is called fails with an
// error matching both), and ctx's cause if ctx ends first; a reply is only
// ever matched on the connection its request was sent on.
func (c *Client) Request(ctx context.Context, typ transport.MessageType, data []byte, match func(transport.Message) bool) (transport.Message, error) {
	if err := c.checkOut(typ, data); err != nil {
		return transport.Message{}, err
	}
	if match == nil {
		return transport.Message{}, fmt.Errorf("session: Request: nil match")
	}
	if ctx == nil {
		return transport.Message{}, errNilContext("Request")
	}
	s, err := c.sendable(ctx)
	if err != nil {
		return transport.Message{}, err
	}
	if s == nil {
		c.bufMu.Unlock()
		return transport.Message{}, fmt.Errorf("%w: no connection to send the request on", ErrNotConnected)
	}
	return c.request(ctx, s, typ, data, match)
}

// request registers a reply for match on s, sends, and waits for it.
func (c *Client) request(ctx context.Context, s *session, typ transport.MessageType, data []byte, match func(transport.Message) bool) (transport.Message, error) {
	r := s.reqs()
	w := r.add(match)
	defer r.remove(w)
	if err := c.paced(ctx, s, typ, data); err != nil {
		return transport.Message{}, err
	}
	return c.awaitReply(ctx, s, w)
}

// requests are the replies awaited on one connection. Whether one can
// still come is the lifecycle's to say (awaitReply): the table keeps no
// flag of its own.
// reqs returns s's requests, made at the first call.
func (s *session) reqs() *requests {
	if r := s.requests.Load(); r != nil {
		return r
	}
	s.requests.CompareAndSwap(nil, new(requests))
	return s.requests.Load()
}

type requests struct {
	pending atomic.Int32 // len(waiting), read by the pump without the lock
	mu      sync.Mutex
	waiting []*awaited
}

type awaited struct {
	match func(transport.Message) bool
	reply chan transport.Message // one slot: the pump never blocks on it
	err   error                  // a panic of match; set before reply is closed
}

func (r *requests) add(match func(transport.Message) bool) *awaited {
	w := &awaited{match: match, reply: make(chan transport.Message, 1)}
	r.mu.Lock()
	r.waiting = append(r.waiting, w)
	r.pending.Store(int32(len(r.waiting)))
	r.mu.Unlock()
	return w
}

func (r *requests) remove(w *awaited) {
	r.mu.Lock()
	if i := slices.Index(r.waiting, w); i >= 0 {
		r.waiting = slices.Delete(r.waiting, i, i+1)
		r.pending.Store(int32(len(r.waiting)))
	}
	r.mu.Unlock()
}

// match hands m to the first request it answers, in the order they were
// made, and reports whether one took it.
func (r *requests) match(m transport.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, w := range r.waiting {
		ok, err := w.try(m)
		if !ok && err == nil {
			continue
		}
		r.waiting = slices.Delete(r.waiting, i, i+1)
		r.pending.Store(int32(len(r.waiting)))
		if err != nil {
			w.err = err
			close(w.reply)
			return false // a broken matcher takes nothing
		}
		w.reply <- m
		return true
	}
	return false
}

// try runs the matcher; a panic is the request's failure, not the pump's.
func (w *awaited) try(m transport.Message) (ok bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &tasks.PanicError{Task: "Request match", Value: p, Stack: debug.Stack()}
		}
	}()
	return w.match(m), nil
}

// awaitReply waits for w's reply on s, until s's Alive is left: the
// context it waits on is bound to the lifecycle (WhileIn), and to s's own
// entry of Alive, the one whose connection is s. A reply that came is
// returned even if the connection failed, or ctx ended, just after it.
func (c *Client) awaitReply(ctx context.Context, s *session, w *awaited) (transport.Message, error) {
	// A handler under way reads nothing: the reply must not wait for it.
	s.lend()
	alive, cancel := c.m.WhileIn(ctx, connfsm.Alive)
	defer cancel()
	if c.sess.Load() != s {
		// The entry WhileIn watches is not s's: s's Alive is over, or,
		// while Closing, hands s over for the close handshake only.
		// (c.sess is set by Alive's enter hook, after the entry is
		// published, and cleared once it is left.)
		cancel()
	}
	var failure error
	select {
	case m, ok := <-w.reply:
		return w.result(m, ok)
	case <-s.doneChan():
		failure = fmt.Errorf("%w: the connection failed before the reply: %w", ErrNotConnected, s.lostErr())
	case <-alive.Done():
		switch st := c.m.State(); {
		case ctx.Err() != nil:
			failure = fmt.Errorf("session: request: %w", context.Cause(ctx))
		case st == connfsm.Closing || st == connfsm.Closed:
			// The client closes: ErrClosed, as Request says, and still
			// ErrNotConnected, as for any connection left before the reply.
			failure = fmt.Errorf("%w: the client closed before the reply (%w)", ErrNotConnected, ErrClosed)
		default:
			failure = fmt.Errorf("%w: the connection was left before the reply", ErrNotConnected)
		}
	}
	select {
	case m, ok := <-w.reply:
		return w.result(m, ok)
	default:
		return transport.Message{}, failure
	}
}

func (w *awaited) result(m transport.Message, ok bool) (transport.Message, error) {
	if !ok {
		return transport.Message{}, fmt.Errorf("session: request: %w", w.err)
	}
	return m, nil
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
	// The flush's rate limiter waits while the connection lives: not past
	// the close timeout, nor past an abort (Close's ctx ended).
	fctx, unwatch := s.untilDead(ctx, c.cfg.limiter != nil)
	defer unwatch()
	c.bufMu.Lock()
	_ = c.flush(fctx, s, c.limit) // a failure is counted; the handshake is tried anyway
	c.bufMu.Unlock()
	err := s.conn.Close(transport.StatusNormalClosure, "")
	s.abort()
	s.wait()
	emit(connfsm.CloseDone, err)
	return nil
}
