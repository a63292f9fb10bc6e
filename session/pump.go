package session

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"slices"
	"time"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

// pump reads the connection until its reads fail and, while Alive, hands
// each data message to OnMessage itself. When a read-ahead was lent the
// connection during a handler call, the pump takes the message it read
// before reading again: messages keep their order, and one goroutine at a
// time reads.
func (s *session) pump() {
	for {
		m, err := s.next()
		if err != nil {
			s.fail(err)
			return
		}
		for {
			if s.inbox != nil {
				if !s.enqueue(m) {
					return // the consumer is too slow, or its Key panicked: the session has failed
				}
				break
			}
			ahead, ok := s.deliver(m)
			if !ok {
				return // the handler panicked: the session has failed
			}
			if ahead == nil {
				break
			}
			r := <-ahead.res
			s.mu.Lock()
			s.ahead = nil
			s.mu.Unlock()
			if r.err != nil {
				return // the read-ahead failed the session
			}
			m = r.m
		}
	}
}

// next reads until a message for the handler comes: heartbeat replies,
// the peer's application pings and the replies Requests wait for are taken
// out of the stream here.
func (s *session) next() (transport.Message, error) {
	for {
		typ, data, err := s.read()
		if err != nil {
			return transport.Message{}, err
		}
		// One clock reading per message: the heartbeat's, the watchdog's
		// and Received are the same instant.
		now := time.Now()
		s.lastRead.Store(int64(sinceStart(now)))
		if s.c.cfg.decompress != datapath.NoDecompression {
			if typ, data, err = s.decode(typ, data); err != nil {
				return transport.Message{}, err
			}
		}
		if s.in != nil {
			deliver, err := s.sort(typ, data, now)
			if err != nil {
				return transport.Message{}, err
			}
			if !deliver {
				continue
			}
		}
		// A reply a Request waits for goes to it, not to OnMessage.
		m := transport.Message{Type: typ, Data: data, Epoch: s.epoch, Received: now}
		if r := s.requests.Load(); r != nil && r.pending.Load() > 0 && r.match(m) {
			continue
		}
		// So is a subscription's ack or NACK (subsend.go).
		if r := s.c.subs.Load(); r != nil && r.claim(s, m) {
			continue
		}
		return m, nil
	}
}

// deliver hands a data message to the handler, once it is this session's
// turn (a handler left running by an earlier connection must return
// first), unless Alive has been left: then the message goes with its
// connection. It returns the read-ahead lent the connection during the
// call, if one was: the pump must take its message before reading; ok is
// false if the handler panicked, which fails the session.
func (s *session) deliver(m transport.Message) (ahead *readAhead, ok bool) {
	c := s.c
	h, pulled := s.handlerOf(m)
	if h == nil {
		c.stats.received(len(m.Data))
		return nil, true
	}
	if !s.startHandling(m, pulled) {
		return s.taken(), true
	}
	if r := s.requests.Load(); r != nil && r.pending.Load() > 0 || s.ping != nil {
		// A reply (a Request's, or the heartbeat's pong) must not wait
		// behind this call: read ahead meanwhile.
		s.lendLocked()
	}
	hctx := s.handlerContextLocked()
	s.mu.Unlock()

	err := c.handle(h, hctx, m, pulled)

	s.mu.Lock()
	// Before the step: the watchdog reads the state without the lock,
	// and whoever sees the reader given back must see when.
	s.stampFreed()
	s.fireLocked(datapath.Return, 0)
	ahead = s.ahead
	s.mu.Unlock()
	c.handling.give()
	if err != nil {
		// The handler panicked: the connection is Lost with the panic, as
		// a task's would be, and the pump reads no more (a read-ahead
		// under way ends when the connection is dropped).
		s.fail(err)
		return nil, false
	}
	return ahead, true
}

// handlerOf returns the handler of m: a subscription's, with a router
// (and its counters count m: subroute.go), else OnMessage. pulled says the
// handler is pullHandler, which counts m once the loop takes it.
func (s *session) handlerOf(m transport.Message) (h func(context.Context, transport.Message), pulled bool) {
	c := s.c
	h, pulled = c.cfg.onMessage, c.pull != nil
	if c.cfg.router != nil {
		var own bool
		h, own = c.handlerFor(s, m)
		pulled = pulled && !own
	}
	return h, pulled
}

// takeTurn takes the one right to call the handler (Client.handling): at
// once, or once the handler of an earlier connection returns, the data
// path Waiting meanwhile; false if Alive is left first.
func (s *session) takeTurn() bool {
	c := s.c
	if c.handling.tryTake() {
		return true
	}
	// The message read waits, which the heartbeat must know: it is read,
	// not yet handled.
	s.fire(datapath.Wait)
	stopped, cancel := s.dp.UntilIn(context.Background(), datapath.Stopped)
	defer cancel()
	return c.handling.take(stopped.Done())
}

// isStopped reports whether the delivery has stopped.
func (s *session) isStopped() bool { return dpStopped(s.dp) }

// dpStopped reports whether the data path m is Stopped: a final leaf at the
// top level, so its state is it, and In's lookup of the state is not
// needed on the path of every message.
func dpStopped(m *dpMachine) bool { return m.State() == datapath.Stopped }

// stampFreed records that a handler gave the reader back now, for the data
// watchdog, the only reader of freed: without one, the clock is not read.
func (s *session) stampFreed() {
	if s.in != nil && s.in.stamp {
		s.freed.Store(int64(clock()))
	}
}

// taken returns, for a pump that let its message go, the read-ahead lent
// meanwhile, if any: the pump takes its message before reading.
func (s *session) taken() *readAhead {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stampFreed()
	return s.ahead
}

// call calls the handler; a panic is returned as a *tasks.PanicError
// rather than ending the process.
func call(h func(context.Context, transport.Message), ctx context.Context, m transport.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &tasks.PanicError{Task: "reader", Value: p, Stack: debug.Stack()}
		}
	}()
	h(ctx, m)
	return nil
}

// readAhead is a goroutine lent the connection while the pump holds a
// message: it reads until a message for the handler comes (answering
// what must be answered: pongs, the peer's pings, Requests' replies), or
// the reads fail, hands that to the pump and returns.
type readAhead struct {
	res chan aheadResult // one slot: the read-ahead never waits on it
}

type aheadResult struct {
	m   transport.Message
	err error
}

// lendLocked lends the connection a read-ahead if the data path says a
// message held keeps it from being read (Lend moves it), unless the reads
// have failed or the pump never waits for the handler (an inbox); s.mu is
// held.
func (s *session) lendLocked() {
	if s.inbox != nil || s.dead() {
		return
	}
	if c, _ := dataPathDef().Cell(s.dp.State(), datapath.Lend); c.Kind != fsm.KindTransition {
		return // nothing held, or a read-ahead is lent already
	}
	// The connection is read again; stamped before the step, as Return's.
	s.stampFreed()
	s.fireLocked(datapath.Lend, 0)
	a := &readAhead{res: make(chan aheadResult, 1)}
	s.ahead = a
	s.live.Go(func() { s.readAhead(a) }) // joined with the connection's goroutines (session.wait)
}

func (s *session) readAhead(a *readAhead) {
	m, err := s.next()
	if err != nil {
		s.fail(err)
		a.res <- aheadResult{err: err}
		return
	}
	s.fire(datapath.Park)
	a.res <- aheadResult{m: m}
}

// hold is what the pump's state means to a ping due.
type hold int

const (
	holdNone hold = iota // the connection is read: a reply would be seen
	holdLent             // nothing read it: a read-ahead was lent it just now
	holdHeld             // a message read waits for the handler, a reply behind it
)

// backpressure reports whether a ping due can be answered. While the pump
// holds a message nothing reads the connection: a read-ahead is lent it,
// and the ping waits a moment, so that a message already on its way is
// read first; once the read-ahead holds one (Backlogged), the peer's reply
// would wait behind it (a slow consumer, not a dead peer). So it would
// while the pump takes that message from the read-ahead (Taking): it hands
// it to the handler next, and nothing reads until the call returns.
func (s *session) backpressure() hold {
	if s.inbox != nil {
		return holdNone // the pump never waits for the handler
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.dp.State() {
	case datapath.Busy, datapath.WaitingHeld:
		s.lendLocked()
		return holdLent
	case datapath.Backlogged, datapath.WaitingBacklogged, datapath.Taking:
		return holdHeld
	}
	return holdNone
}

// held reports whether a message read waits for the handler in the
// read-ahead.
func (s *session) held() bool {
	switch s.dp.State() {
	case datapath.Backlogged, datapath.WaitingBacklogged, datapath.Taking:
		return s.inbox == nil
	}
	return false
}

// lend lends the connection a read-ahead if the pump holds a message: a
// Request waits for its reply.
func (s *session) lend() {
	s.mu.Lock()
	s.lendLocked()
	s.mu.Unlock()
}

// inbound says how the pump sorts the messages it reads: the application
// heartbeat's replies, the peer's application pings, and data.
type inbound struct {
	isPong       func(transport.Message) bool
	deliverPongs bool
	respond      func(transport.Message) ([]byte, bool)
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
func (s *session) sort(typ transport.MessageType, data []byte, now time.Time) (deliver bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &tasks.PanicError{Task: "reader", Value: p, Stack: debug.Stack()}
		}
	}()
	in := s.in
	m := transport.Message{Type: typ, Data: data, Epoch: s.epoch}
	if in.isPong != nil && in.isPong(m) {
		select {
		case s.app.pongs <- struct{}{}:
		default: // one is pending already
		}
		return in.deliverPongs, nil
	}
	if in.respond != nil {
		if reply, ok := in.respond(m); ok {
			select {
			case s.app.replies <- frame{typ, reply}:
			case <-s.doneChan(): // the answerer has returned, or is about to
			}
			return false, nil
		}
	}
	if in.stamp {
		s.lastData.Store(int64(sinceStart(now)))
	}
	return true, nil
}

// read reads one message, like conn.Read, into a buffer sized after the
// previous message. With a cancellable ctx coder/websocket arms a
// context.AfterFunc on every read call (four allocations); io.ReadAll,
// which conn.Read uses, starts at 512 bytes and grows, so it would make one
// call per growth step. With room for the whole frame, a message sent in
// one frame takes two calls (header, payload) whatever its size; the final
// io.EOF costs no call to the connection. A transport that panics fails
// the connection, as its Dial's panic fails the attempt: the pump is no
// task, and the panic would end the process.
func (s *session) read() (_ transport.MessageType, _ []byte, err error) {
	s.inRead.Store(true)
	defer func() {
		s.inRead.Store(false)
		if v := recover(); v != nil {
			err = fmt.Errorf("session: transport read: %w", &tasks.PanicError{Where: "transport reader", Value: v, Stack: debug.Stack()})
		}
	}()
	typ, r, err := s.conn.Reader()
	if err != nil {
		return 0, nil, err
	}
	if b, ok := readWhole(r); ok {
		return typ, b, nil
	}
	// One byte over the previous size, so that a message of the same size
	// leaves room and the read that reports io.EOF needs no growth.
	b := make([]byte, 0, max(512, int(s.lastSize)+1))
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case err == io.EOF:
			s.lastSize = int32(min(len(b), math.MaxInt32-1))
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

// What the data path owes the peer and the handler when a connection
// ends or a handler is slow: the watchdog's view of silence, and the drain
// of what was read already.

// sinceData returns how long the peer has been silent, as the data
// watchdog counts it: since the last data message came (or the connection
// came up), or since a handler last gave the reader back, whichever is
// later. Time spent while a handler holds the reader is the consumer's,
// not the peer's: ok is false then, and nothing is counted.
func (s *session) sinceData() (idle time.Duration, ok bool) {
	if s.readerHeld() {
		return 0, false
	}
	since := max(time.Duration(s.lastData.Load()), time.Duration(s.freed.Load()))
	return clock() - since, true
}

// readerHeld reports whether a handler holds the reader: the pump holds a
// message (waiting for its turn, or in the handler), and nothing else
// reads the connection, or the read-ahead lent it holds a message too.
// Under an inbox the pump never waits for the handler.
func (s *session) readerHeld() bool {
	return s.inbox == nil && datapath.ReaderHeld(s.dp.State())
}

// endHandler ends the handler's context with cause: the call under way
// learns that its connection ended, and so do the calls that drain what
// was read already (drain).
func (s *session) endHandler(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlerContextLocked()
	s.hcancel(cause)
}

// drainTimeout bounds drain: well within the lifecycle's join deadline,
// so that a reader task draining is not reported as a straggler.
const drainTimeout = time.Second

// drain waits, up to drainTimeout, until the pump holds no message it has
// read: the one in the handler, or waiting for its turn, the one a
// read-ahead holds, and those in the inbox are delivered (with the
// handler's context ended), not dropped. What the pump reads after it is
// dropped and counted.
func (s *session) drain() {
	if !s.holding(s.dp) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	_ = s.dp.Await(ctx, func(m *dpMachine) bool { return !s.holding(m) })
}

// holding reports whether the pump holds a message read and not yet
// handed to the handler, or in the handler. The data path steps at every
// handler call, so a wait on it sees an inbox emptied too.
func (s *session) holding(m *dpMachine) bool {
	return datapath.Holding(m.State()) || s.inbox != nil && s.inbox.len() > 0
}

// startHandling takes the turn to call the handler with m, and moves the
// data path into the call. It reports false, m counted as dropped, if
// Alive is left meanwhile: the turn not had, or the delivery Stopped (read
// during the close handshake, or after the drain). On true, s.mu is held:
// the caller reads what the call needs under it, then unlocks. m is
// counted as received then, unless pulled: the handler is pullHandler,
// which counts it once the loop over Messages takes it.
func (s *session) startHandling(m transport.Message, pulled bool) bool {
	c := s.c
	if !s.takeTurn() {
		c.stats.more().dropped.Add(1)
		return false
	}
	s.mu.Lock()
	s.deliverLocked(m)
	if dpStopped(s.dp) {
		s.mu.Unlock()
		c.handling.give()
		c.stats.more().dropped.Add(1)
		return false
	}
	if !pulled {
		c.stats.received(len(m.Data)) // delivered: one dropped after Alive is counted in dropped
	}
	return true
}
