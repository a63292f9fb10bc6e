package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm/internal/sockbuf"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

type frame struct {
	typ  transport.MessageType
	data []byte
}

// session is one connection: the payload of the Connected step that
// enters Alive. It outlives no state: it is created by the dial task,
// owned by Alive (and Closing, for the close handshake), and aborted and
// joined in their exit hooks (dropSession).
//
// Its pump (pump.go) is the goroutine that reads the connection and, while
// Alive, calls OnMessage itself: no hand-over between goroutines per
// message. While a handler runs nothing reads, unless a read-ahead is lent
// the connection (a heartbeat due, or a Request waiting): then one more
// message is read, so pongs, replies, close frames and a dead socket are
// still seen. Alive's reader task owns the handler calls: it stops the
// delivery and waits for the call under way before Alive is left.
//
// The pump is no task of Alive, because it must outlive Alive: it keeps
// reading for the close handshake, dropping data, and a transport such as
// coder/websocket closes a connection whose Read is cancelled, so no task
// could read it across states. Nor, for the same reason, are the
// goroutines that read or write beside it: a read-ahead lent the
// connection, and the answerer of the peer's pings. All of them, and the
// hand-out of an inbox (which Alive's reader task joins already), are
// started in live and joined by wait, which the exit hook that drops the
// connection calls once it has aborted it: none runs once the lifecycle
// has left Alive for Reconnecting, or Closing for Closed.
type session struct {
	conn  transport.Conn
	raw   net.Conn // the socket under conn, if its transport tells (NetConn): for lateRead
	epoch uint64
	c     *Client // set by Alive's enter hook
	// done is closed once the connection's reads have failed (isDead):
	// made at the first wait for it (doneChan), under mu, as most
	// connections are never waited on.
	done chan struct{}
	err  error          // why; valid once isDead
	up   time.Duration  // clock() when it came up, for the stable period
	live sync.WaitGroup // its goroutines: the pump, the read-ahead, the answerer, the hand-out

	in       *inbound     // how the pump sorts messages; nil: all are data
	app      *appPings    // nil without an application heartbeat or ping responder
	lastRead atomic.Int64 // clock() when the last message was read, or the connection came up; for the heartbeat
	lastData atomic.Int64 // clock() when the last data message came, or the connection came up; for the watchdog
	freed    atomic.Int64 // clock() when a handler last gave the reader back (returned, or a read-ahead was lent); for the watchdog
	inRead   atomic.Bool  // the pump, or a read-ahead, is in a read of the connection
	// slowLogged: the slow-consumer policy's first act on this connection
	// was logged.
	slowLogged atomic.Bool

	// requests are the Requests waiting for their reply on this
	// connection; every data message read is matched against them first.
	// Made at the first Request (reqs): most connections see none.
	requests atomic.Pointer[requests]

	lastSize int32       // size of the previous message (at most MaxInt32); owned by whoever reads
	isDead   atomic.Bool // the reads have failed: err is set

	// dp is the data path's state (datapath.go): whether the pump runs,
	// waits for its turn, is in the handler, has a read-ahead lent, holds
	// the next message. Its events are fired under mu, which also guards
	// the read-ahead's result, the handler's context and the ping under
	// way.
	dp    *dpMachine
	mu    sync.Mutex
	ahead *readAhead    // the read-ahead lent, whose result the pump takes before reading; nil when the pump reads
	lag   time.Duration // the lag of the message the step under way delivers, for the data path's observer
	inbox *inbox        // the messages waiting for the handler, under a policy other than Block; nil under Block
	// hctx is the handler's context: the reader task's until the first
	// handler call, which makes the handler's own with its values
	// (hcancel ends it): an idle connection never calls the handler.
	hctx    context.Context
	hcancel context.CancelCauseFunc
	ping    context.CancelFunc // ends the ping under way; nil between pings

	watch watch // the reader task's, between its steps (heartbeat.go)
}

// appPings are the channels of a connection's application-level pings.
type appPings struct {
	pongs   chan struct{} // the application heartbeat's replies, for the heartbeat; nil without one
	replies chan frame    // answers to the peer's pings, for the answerer
}

// start is when the process started using the clock: sessions keep
// their times as clock() readings, 8 bytes instead of a time.Time's 24.
var start = time.Now()

// clock returns the monotonic time since start.
func clock() time.Duration { return time.Since(start) }

// sinceStart returns t, a time.Now reading, as clock() would have read
// it: a message's Received serves as its clock() stamps.
func sinceStart(t time.Time) time.Duration { return t.Sub(start) }

// newSession wraps conn; in says how to sort what is read, or is nil if
// everything is data.
func newSession(conn transport.Conn, in *inbound) *session {
	s := &session{conn: conn, in: in}
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		s.raw = nc.NetConn()
	}
	s.up = clock()
	now := int64(s.up)
	s.lastRead.Store(now)
	s.lastData.Store(now)
	s.freed.Store(now)
	if in != nil && (in.isPong != nil || in.respond != nil) {
		s.app = new(appPings)
	}
	if in != nil && in.isPong != nil {
		s.app.pongs = make(chan struct{}, 1)
	}
	return s
}

// Dispose closes a connection whose Connected event was never consumed (it
// arrived after a Close, for instance): a late dial never leaks a socket.
func (s *session) Dispose() { s.abort() }

// start starts the pump, whose handler calls get a context under rctx
// (the reader task's), unless Alive has been left already: then the
// connection is read by nobody but the close handshake, and dropped. tm
// is the reader task's timer, which a failure of the reads wakes.
func (s *session) start(rctx context.Context, tm *tasks.Timer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watch.tm = tm
	s.fireLocked(datapath.Start, 0)
	if !s.dp.In(datapath.Flowing) || s.hctx != nil {
		return // Alive is left already, or the pump runs
	}
	s.hctx = rctx
	if s.in != nil && s.in.respond != nil {
		s.app.replies = make(chan frame, maxPendingReplies)
		s.live.Go(s.answer)
	}
	if p := s.c.cfg.slow; p.Policy != datapath.Block && (s.c.cfg.onMessage != nil || s.c.cfg.router != nil) {
		s.inbox = newInbox(p)
		s.live.Go(s.handOut)
	}
	s.live.Go(s.pump)
}

// maxPendingReplies bounds the answers to the peer's pings not written
// yet; beyond it the reader waits, and the peer's flood slows down.
const maxPendingReplies = 16

// answer writes the answers to the peer's pings. The reader hands them
// over rather than writing them itself: a reader blocked in a write would
// read nothing, and a peer blocked writing to it would never read the
// answer. A failed write fails the connection, which the read reports. It
// runs as long as the pump reads, and returns once the reads have failed.
func (s *session) answer() {
	done := s.doneChan()
	for {
		select {
		case f := <-s.app.replies:
			if s.writeReply(f) == nil {
				s.c.stats.more().answered.Add(1)
			}
		case <-done:
			return
		}
	}
}

// writeReply writes a reply to the peer's ping. A transport whose Write
// panics fails the connection, as a panic in its reads does: answer is no
// task, and the panic would end the process.
func (s *session) writeReply(f frame) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("session: transport write: %w", &tasks.PanicError{Where: "transport writer", Value: v, Stack: debug.Stack()})
			s.fail(err)
			s.abort()
		}
	}()
	return s.conn.Write(context.Background(), f.typ, f.data)
}

// fail records why the connection's reads failed, once, and closes done.
func (s *session) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dead() {
		s.err = err
		if s.c != nil && errors.Is(err, ErrMessageTooBig) {
			s.c.stats.more().tooBig.Add(1)
		}
		s.isDead.Store(true) // after err: whoever sees it dead reads err
		if s.done != nil {
			close(s.done)
		}
		if s.watch.tm != nil {
			s.watch.tm.Wake() // the reader task reports it
		}
		if s.ping != nil {
			// A transport's Ping waits for its pong, or its context: a
			// failed read need not end it.
			s.ping()
		}
	}
}

// pinging registers cancel as the end of the ping under way, or calls it
// at once if the reads have failed already; nil unregisters it. While a
// ping is out its reply must be read: a handler that holds the reader,
// now (it took it after the heartbeat looked) or later (deliver), is lent
// a read-ahead. Unread, the reply would hold the peer's reader if its
// writes block, and with it our next ping's write, until that ping's
// deadline closed the connection.
func (s *session) pinging(cancel context.CancelFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ping = cancel
	switch {
	case cancel == nil:
	case s.dead():
		cancel()
	default:
		s.lendLocked()
	}
}

// sinceRead returns how long ago the last message was read, or the
// connection came up if none has.
func (s *session) sinceRead() time.Duration {
	return clock() - time.Duration(s.lastRead.Load())
}

// readSince reports whether a message was read after t, a clock()
// reading.
func (s *session) readSince(t time.Duration) bool {
	return time.Duration(s.lastRead.Load()) > t
}

// stopDelivery makes the pump drop data messages: after Alive no one may
// call the handler, and the pump must keep reading for the close
// handshake. A handler call under way returns first (the data path
// postpones Stop until then).
func (s *session) stopDelivery() { s.fire(datapath.Stop) }

// handlerContextLocked returns the context of a handler call, made at
// the first: the reader task's values, and ended by the reader task
// alone (endHandler), in its last step, with the connection's failure or
// the cause that ended the task. It is no child of the reader task's
// context, whose cancellation it would otherwise follow: that would cost
// the task's context a done channel and a map of its children, for every
// connection that ever received a message. s.mu is held.
func (s *session) handlerContextLocked() context.Context {
	if s.hcancel == nil {
		s.hctx, s.hcancel = context.WithCancelCause(context.WithoutCancel(s.hctx))
	}
	return s.hctx
}

// joinHandler stops the delivery and waits for the handler call under way,
// if any, to return. Alive's reader task calls it before it returns: no
// handler runs outside its Alive, and one that ignores its context holds
// the reader task, which the lifecycle's join then reports as a straggler.
func (s *session) joinHandler() {
	s.fire(datapath.Stop)
	_ = s.dp.Await(context.Background(), func(m *dpMachine) bool { return !datapath.InHandler(m.State()) })
}

// abort closes the connection at once, without a handshake, which fails
// its reads and stops the pump, and unblocks a Close whose peer does not
// answer.
func (s *session) abort() { _ = s.conn.CloseNow() }

// wait joins the connection's goroutines (live), once abort has failed
// its reads: the pump and a read-ahead return as their reads fail, the
// answerer as done is closed, the hand-out once the delivery is stopped.
// The one exception is a handler call that outlived the reader task's join
// (it ignored its context, and the lifecycle reported the reader task as a
// straggler): its goroutine is not waited for, or a handler could hold
// the lifecycle forever. Wait then waits for the reads to fail, and the
// goroutine returns once the handler does, reading nothing but a closed
// connection.
func (s *session) wait() {
	if s.dp == nil {
		return // never Alive: nothing was started
	}
	if st := s.dp.State(); datapath.InHandler(st) {
		// Under an inbox the pump reads on, the hand-out being in the
		// handler; a read-ahead lent reads until it holds a message.
		if s.inbox != nil || st == datapath.ReadAhead {
			<-s.doneChan()
		}
		return
	}
	s.live.Wait()
}

// lostErr is the cause of Lost once the reads have failed: a *CloseError
// if the peer sent a close frame, the *tasks.PanicError of a handler or
// matcher that panicked.
func (s *session) lostErr() error {
	if pe, ok := s.err.(*tasks.PanicError); ok {
		return pe
	}
	if errors.Is(s.err, ErrSlowConsumer) {
		return s.err
	}
	err := fmt.Errorf("%w: %w", ErrReadFailed, s.err)
	if errors.Is(s.err, ErrMessageTooBig) {
		return err
	}
	var ce *transport.CloseError
	if errors.As(s.err, &ce) {
		return &transport.CloseError{Code: ce.Code, Reason: ce.Reason, Err: err}
	}
	return err
}

// failed returns the cause of Lost for err, a failure a write saw: the
// write failed because the connection did, and the read reports why (a
// close frame's code, for the retry policy). It waits for the read up to
// wait, or until ctx ends; err if the read still runs then.
func (s *session) failed(ctx context.Context, err error, wait time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-s.doneChan():
		return s.lostErr()
	case <-ctx.Done():
	case <-t.C:
	}
	return err
}

// lateRead reports whether the pump is late, not the peer: it is in a read
// of the connection (not held elsewhere, by a handler or a full queue of
// answers) while the peer's bytes lie unread in the socket. Once a ping
// has been excused so (prev, its start on clock(); negative if none was),
// the next is only if a message was read since: a read that never comes
// excuses nothing twice.
func (s *session) lateRead(prev time.Duration) bool {
	if s.raw == nil || !s.inRead.Load() {
		return false
	}
	if prev >= 0 && !s.readSince(prev) {
		return false
	}
	return sockbuf.Unread(s.raw)
}

// closedHere reports whether the reads failed on a connection closed on
// this side (net.ErrClosed) while Alive: by a write whose context ended,
// which coder/websocket answers by closing the connection.
func (s *session) closedHere() bool {
	return s.dead() && errors.Is(s.err, net.ErrClosed)
}

// untilDead returns a context derived from ctx that also ends once the
// connection's reads have failed (aborted, or the peer gone), if watch is
// set; the goroutine that watches is joined by stop.
func (s *session) untilDead(ctx context.Context, watch bool) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	if !watch {
		return ctx, cancel
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-s.doneChan():
			cancel()
		case <-ctx.Done():
		}
	})
	return ctx, func() { cancel(); wg.Wait() }
}

// limit waits for the rate limiter, if there is one, bounded by ctx alone:
// Closing's flush paces its writes so.
func (c *Client) limit(ctx context.Context) error {
	if l := c.cfg.limiter; l != nil {
		return l.Wait(ctx)
	}
	return nil
}

// dead reports whether the connection has already failed.
func (s *session) dead() bool { return s.isDead.Load() }

// doneChan returns a channel closed once the connection has failed.
func (s *session) doneChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		if s.dead() {
			close(s.done)
		}
	}
	return s.done
}

// Session is the connection handed to OnConnect, during its sync.
type Session struct {
	s *session
	c *Client
}

// Epoch returns the lifecycle epoch of this connection's Alive entry.
func (s *Session) Epoch() uint64 { return s.s.epoch }

// Subprotocol returns the subprotocol the server selected, or "" (always,
// on a transport without subprotocols).
func (s *Session) Subprotocol() string {
	if sp, ok := s.s.conn.(interface{ Subprotocol() string }); ok {
		return sp.Subprotocol()
	}
	return ""
}

// Send writes a message on this connection at once, ahead of any message
// sent through the Client and of the subscriptions' replay, paced by the
// rate limiter: log in here. A done ctx fails it before the socket is
// touched; if ctx ends during the write, the connection is closed (a
// coder/websocket rule) and counts as Lost.
func (s *Session) Send(ctx context.Context, typ transport.MessageType, data []byte) error {
	if err := s.c.checkOut(typ, data); err != nil {
		return err
	}
	if ctx == nil {
		return errNilContext("Session.Send")
	}
	return s.c.paced(ctx, s.s, typ, data)
}

// SendText sends a text message; see Send.
func (s *Session) SendText(ctx context.Context, text string) error {
	return s.Send(ctx, transport.Text, []byte(text))
}

// SendJSON sends v encoded as JSON in a text message; see Send.
func (s *Session) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: encode JSON: %w", err)
	}
	return s.Send(ctx, transport.Text, b)
}

// Request sends a message on this connection and waits for the first
// received message match accepts, as Client.Request does: a login's ack.
func (s *Session) Request(ctx context.Context, typ transport.MessageType, data []byte, match func(transport.Message) bool) (transport.Message, error) {
	if err := s.c.checkOut(typ, data); err != nil {
		return transport.Message{}, err
	}
	if match == nil {
		return transport.Message{}, fmt.Errorf("session: Request: nil match")
	}
	if ctx == nil {
		return transport.Message{}, errNilContext("Session.Request")
	}
	return s.c.request(ctx, s.s, typ, data, match)
}

func checkType(typ transport.MessageType) error {
	if typ != transport.Text && typ != transport.Binary {
		return fmt.Errorf("session: message type %d is neither Text nor Binary", typ)
	}
	return nil
}
