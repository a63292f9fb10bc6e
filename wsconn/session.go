package wsconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/tasks"
)

// MessageType is the type of a WebSocket data message.
type MessageType = websocket.MessageType

// The message types.
const (
	Text   = websocket.MessageText
	Binary = websocket.MessageBinary
)

// Message is a received data message.
type Message struct {
	Type MessageType // Text or Binary
	Data []byte      // owned by the handler
	// Epoch is the lifecycle epoch of the connection it arrived on.
	Epoch uint64
}

type frame struct {
	typ  MessageType
	data []byte
}

// session is one WebSocket connection. It outlives no state: it is created
// by the dial task, owned by Alive (and Closing, for the close handshake),
// and aborted and waited for in their exit hooks.
//
// Its pump is the one goroutine reading the connection: coder/websocket
// closes a connection whose Read is cancelled, so the Alive reader task,
// which must return when Alive is left, consumes frames from the pump
// rather than calling Read itself. That keeps the connection usable for the
// close handshake after Alive's tasks have been joined.
type session struct {
	conn    *websocket.Conn
	raw     net.Conn // the TCP connection under conn, when known; see rawConn
	epoch   uint64
	stats   *counters // the client's: every count is kept once
	frames  chan frame
	discard chan struct{} // closed: nobody consumes frames any more; drop them
	ctx     context.Context
	cancel  context.CancelFunc // aborts the connection, even mid-Close
	done    chan struct{}      // closed when the pump has returned
	err     error              // why the pump stopped; valid after done

	in       *inbound // how the pump sorts messages; nil: all are data
	pongs    chan struct{}
	replies  chan frame    // answers to the peer's pings, for the answerer
	answerer chan struct{} // closed when the answerer has returned; nil without one
	born     time.Time     // when the connection came up
	lastData atomic.Int64  // time since born of the last data message, for the watchdog

	// requests are the Requests waiting for their reply on this
	// connection; the pump matches every data message against them first.
	requests requests

	started  bool
	lastSize int // size of the previous message; owned by the pump
	// reads (messages read so far) and parked tell the heartbeat that the
	// peer is sending: a pong queues behind messages not yet handled.
	reads       atomic.Uint64
	parked      atomic.Bool
	discardOnce sync.Once
}

// newSession wraps conn; raw is the socket under it, or nil if the HTTP
// client is the caller's and it is not known; in says how to sort what is
// read, or is nil if everything is data.
func newSession(conn *websocket.Conn, raw net.Conn, in *inbound) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{
		conn:    conn,
		raw:     raw,
		in:      in,
		pongs:   make(chan struct{}, 1),
		born:    time.Now(),
		frames:  make(chan frame),
		discard: make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),

		requests: requests{ended: make(chan struct{})},
	}
}

// Dispose closes a connection whose Connected event was never consumed (it
// arrived after a Close, for instance): a late dial never leaks a socket.
func (s *session) Dispose() { s.abort() }

func (s *session) start() {
	s.started = true
	if s.in != nil && s.in.respond != nil {
		s.replies = make(chan frame, maxPendingReplies)
		s.answerer = make(chan struct{})
		go s.answer()
	}
	go s.pump()
}

// maxPendingReplies bounds the answers to the peer's pings not written
// yet; beyond it the pump waits, and the peer's flood slows down.
const maxPendingReplies = 16

// answer writes the answers to the peer's pings. The pump hands them over
// rather than writing them itself: a pump blocked in a write would read
// nothing, and a peer blocked writing to it would never read the answer.
// A failed write fails the connection, which the pump's read reports.
func (s *session) answer() {
	defer close(s.answerer)
	for {
		select {
		case f := <-s.replies:
			if s.conn.Write(s.ctx, f.typ, f.data) == nil {
				s.stats.answered.Add(1)
			}
		case <-s.ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}

func (s *session) pump() {
	defer close(s.done)
	// With the socket known, abort closes it under the read; otherwise the
	// read's context must be the cancellable one.
	rctx := s.ctx
	if s.raw != nil {
		rctx = context.Background()
	}
	for {
		typ, data, err := s.read(rctx)
		if err != nil {
			s.err = err
			return
		}
		s.reads.Add(1)
		if s.in != nil {
			deliver, err := s.sort(typ, data)
			if err != nil {
				s.err = err
				return
			}
			if !deliver {
				continue
			}
		}
		// A reply a Request waits for goes to it, not to OnMessage: taken
		// here, before the handler, so that a handler that blocks cannot
		// hold up the reply (a login ack the sync waits for).
		if s.requests.pending.Load() > 0 && s.requests.match(Message{Type: typ, Data: data, Epoch: s.epoch}) {
			continue
		}
		s.parked.Store(true)
		select {
		case s.frames <- frame{typ, data}:
		case <-s.discard:
		case <-s.ctx.Done():
			s.err = context.Cause(s.ctx)
			return
		}
		s.parked.Store(false)
	}
}

// inbound says how the pump sorts the messages it reads: the application
// heartbeat's replies, the peer's application pings, and data.
type inbound struct {
	isPong       func(Message) bool
	deliverPongs bool
	respond      func(Message) ([]byte, bool)
	stamp        bool // stamp data messages for the watchdog
}

// newInbound returns how cfg sorts messages, or nil if every message is
// data and nothing needs stamping.
func newInbound(cfg *config) *inbound {
	in := &inbound{respond: cfg.respond, stamp: cfg.idleTimeout > 0}
	if h := cfg.appHeartbeat; h != nil {
		in.isPong, in.deliverPongs = h.IsPong, h.Deliver
	}
	if in.isPong == nil && in.respond == nil && !in.stamp {
		return nil
	}
	return in
}

// sort takes a heartbeat reply or a peer's ping out of the stream
// (answering the ping), stamps data for the watchdog, and reports whether
// the message goes to the handler. A matcher or responder that panics
// fails the connection with a *tasks.PanicError: the pump is no task, and
// a panic there would end the process.
func (s *session) sort(typ MessageType, data []byte) (deliver bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &tasks.PanicError{Task: "reader", Value: p, Stack: debug.Stack()}
		}
	}()
	in := s.in
	m := Message{Type: typ, Data: data, Epoch: s.epoch}
	if in.isPong != nil && in.isPong(m) {
		select {
		case s.pongs <- struct{}{}:
		default: // one is pending already
		}
		return in.deliverPongs, nil
	}
	if in.respond != nil {
		if reply, ok := in.respond(m); ok {
			select {
			case s.replies <- frame{typ, reply}:
			case <-s.ctx.Done():
			}
			return false, nil
		}
	}
	if in.stamp {
		s.lastData.Store(int64(time.Since(s.born)))
	}
	return true, nil
}

// sinceData returns how long ago the last data message came, or the
// connection came up if none has.
func (s *session) sinceData() time.Duration {
	return time.Since(s.born) - time.Duration(s.lastData.Load())
}

// read reads one message, like conn.Read, into a buffer sized after the
// previous message. With a cancellable ctx coder/websocket arms a
// context.AfterFunc on every read call (four allocations); io.ReadAll,
// which conn.Read uses, starts at 512 bytes and grows, so it would make one
// call per growth step. With room for the whole frame, a message sent in
// one frame takes two calls (header, payload) whatever its size; the final
// io.EOF costs no call to the connection.
func (s *session) read(ctx context.Context) (MessageType, []byte, error) {
	typ, r, err := s.conn.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	// One byte over the previous size, so that a message of the same size
	// leaves room and the read that reports io.EOF needs no growth.
	b := make([]byte, 0, max(512, s.lastSize+1))
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case err == io.EOF:
			s.lastSize = len(b)
			if cap(b) > 2*len(b)+512 {
				// Much smaller than the message before: the handler keeps
				// a right-sized copy, not the large buffer.
				b = slices.Clone(b)
			}
			return typ, b, nil
		case err != nil:
			return typ, b, err
		case len(b) == cap(b):
			b = append(b, 0)[:len(b)] // let append pick the growth
		}
	}
}

// stopDelivery makes the pump drop data frames: after Alive no one consumes
// them, and the pump must keep reading for the close handshake.
func (s *session) stopDelivery() { s.discardOnce.Do(func() { close(s.discard) }) }

// abort closes the connection at once, without a handshake, and stops the
// pump. coder/websocket's CloseNow waits for a Close in progress, so what
// unblocks a Close whose peer does not answer is the pump's read failing:
// the socket closed under it, or, when the socket is not known, its read
// context cancelled.
func (s *session) abort() {
	s.cancel()
	if s.raw != nil {
		_ = s.raw.Close()
	}
	_ = s.conn.CloseNow()
}

// wait waits for the pump to return.
func (s *session) wait() {
	if s.started {
		<-s.done
		if s.answerer != nil {
			<-s.answerer
		}
	}
}

// peerSending reports whether the pump is holding a message the handler has
// not taken yet, or has read any since it had read reads: the peer is
// alive, and a pong may wait unread behind its messages.
func (s *session) peerSending(reads uint64) bool {
	return s.parked.Load() || s.reads.Load() != reads
}

// lostErr is the cause of Lost once the pump has stopped: a *CloseError if
// the peer sent a close frame.
func (s *session) lostErr() error {
	err := fmt.Errorf("%w: %w", ErrReadFailed, s.err)
	var ce websocket.CloseError
	if errors.As(s.err, &ce) {
		return &CloseError{Code: ce.Code, Reason: ce.Reason, Err: err}
	}
	return err
}

// failed returns the cause of Lost for err, a failure a write saw: the
// write failed because the connection did, and the pump, which reads the
// connection, reports why (a close frame's code, for the retry policy).
// It waits for the pump up to wait, or until ctx ends; err if the pump
// still runs then.
func (s *session) failed(ctx context.Context, err error, wait time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-s.done:
		return s.lostErr()
	case <-ctx.Done():
	case <-t.C:
	}
	return err
}

// dead reports whether the connection has already failed.
func (s *session) dead() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Session is the connection handed to OnConnect, during its sync.
type Session struct {
	s *session
	c *Client
}

// Epoch returns the lifecycle epoch of this connection's Alive entry.
func (s *Session) Epoch() uint64 { return s.s.epoch }

// Subprotocol returns the subprotocol the server selected, or "".
func (s *Session) Subprotocol() string { return s.s.conn.Subprotocol() }

// Send writes a message on this connection at once, ahead of any message
// sent through the Client and of the subscriptions' replay, paced by the
// rate limiter: log in here. A done ctx fails it before the socket is
// touched; if ctx ends during the write, the connection is closed (a
// coder/websocket rule) and counts as Lost.
func (s *Session) Send(ctx context.Context, typ MessageType, data []byte) error {
	if err := checkType(typ); err != nil {
		return err
	}
	return s.c.paced(ctx, s.s, typ, data)
}

// SendText sends a text message; see Send.
func (s *Session) SendText(ctx context.Context, text string) error {
	return s.Send(ctx, Text, []byte(text))
}

// SendJSON sends v encoded as JSON in a text message; see Send.
func (s *Session) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("wsconn: encode JSON: %w", err)
	}
	return s.Send(ctx, Text, b)
}

// Request sends a message on this connection and waits for the first
// received message match accepts, as Client.Request does: a login's ack.
func (s *Session) Request(ctx context.Context, typ MessageType, data []byte, match func(Message) bool) (Message, error) {
	if err := checkType(typ); err != nil {
		return Message{}, err
	}
	if match == nil {
		return Message{}, fmt.Errorf("wsconn: Request: nil match")
	}
	return s.c.request(ctx, s.s, typ, data, match)
}

func checkType(typ MessageType) error {
	if typ != Text && typ != Binary {
		return fmt.Errorf("wsconn: message type %d is neither Text nor Binary", typ)
	}
	return nil
}
