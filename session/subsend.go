package session

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

// sentOn records the connection s is subscribed on (0: none); s.mu is
// held.
func (r *registry) sentOn(s *subscribed, epoch uint64) {
	r.mu.Lock()
	s.conn.Store(epoch)
	r.mu.Unlock()
}

// sendSubscription sends s on ss if it is Pending and not yet sent there:
// Send is fired first, so that a second sender finds it Subscribing, then
// its message is written. Without an Ack it is Active once written. A
// write that fails leaves it Pending for the next connection.
func (c *Client) sendSubscription(ctx context.Context, ss *session, s *subscribed) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m.State() != subscription.Pending || s.conn.Load() == ss.epoch {
		return nil // sent already, or to wait for the next connection
	}
	if err := s.m.FireWith(ctx, subscription.Send, ss.epoch); err != nil {
		return fmt.Errorf("session: subscription %q: %w", s.Key, err)
	}
	s.cause.Store(nil) // a new attempt: the last one's failure is over
	c.reg().sending(c, s, ss.epoch)
	if err := c.paced(ctx, ss, s.Type, s.Message); err != nil {
		c.reg().settle(s)
		serr := &subscription.Error{Key: s.Key, Err: err}
		_ = s.fail(ctx, subscription.Lost, serr) // not sent: the next connection sends it
		if ctx.Err() != nil {
			// The caller gave up before the write, on a connection still
			// up: the next Subscribe of the key may send it there.
			c.reg().sentOn(s, 0)
		}
		return serr
	}
	if !s.awaitsAck(c) {
		_ = s.m.Fire(ctx, subscription.Ack)
	}
	return nil
}

// fail fires ev with err, which it keeps first as the cause a Subscribe
// waiting for the outcome reads: the machine publishes the state it
// enters before that state's enter hooks run.
func (s *subscribed) fail(ctx context.Context, ev subscription.Event, err error) error {
	if err != nil {
		s.cause.Store(&err)
	}
	return s.m.FireWith(ctx, ev, err)
}

// awaitsAck reports whether s is Subscribing until an answer: it has an
// Ack matcher, or the Router answers every subscribe.
func (s *subscribed) awaitsAck(c *Client) bool {
	return s.Ack != nil || c.cfg.router != nil && c.cfg.router.Acks
}

// sending records that s is being sent on the connection of epoch and,
// when it awaits an answer, has the reader try its matchers (or the
// router its key) and puts its deadline on the ack clock; s.mu is held.
func (r *registry) sending(c *Client, s *subscribed, epoch uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.conn.Store(epoch)
	s.gen++
	if !s.awaitsAck(c) {
		return
	}
	// The answer to an earlier send may still be due (an unsubscribe was
	// written since): this send's is awaited in its place, once.
	r.unwait(s)
	s.ackOn, s.waiting, s.unsubbed = epoch, true, false // a new send: no unsubscribe waits on it
	if s.Ack != nil {
		r.inflight = append(r.inflight, s)
		r.awaiting.Store(int32(len(r.inflight)))
	} else {
		r.routed.Add(1)
	}
	// One ack timeout for all: deadlines come in send order, and one
	// timer, armed for the oldest, serves them all.
	r.due = append(r.due, dueAck{s: s, gen: s.gen, at: time.Now().Add(c.cfg.ackTimeout)})
	if len(r.due) == 1 {
		if r.clock == nil {
			r.clock = time.AfterFunc(c.cfg.ackTimeout, r.sweep)
		} else {
			r.clock.Reset(c.cfg.ackTimeout)
		}
	}
}

// dueAck is a subscription's ack deadline, for the send gen.
type dueAck struct {
	s   *subscribed
	gen uint64
	at  time.Time
}

// current reports whether d is still awaited.
func (d dueAck) current() bool { return d.s.waiting && d.s.gen == d.gen }

// sweep times out the subscriptions whose deadline has passed, and arms
// the clock for the next.
func (r *registry) sweep() {
	r.mu.Lock()
	now := time.Now()
	var expired []*subscribed
	i := 0
	for ; i < len(r.due) && (!r.due[i].current() || !r.due[i].at.After(now)); i++ {
		if d := r.due[i]; d.current() {
			r.unwait(d.s)
			expired = append(expired, d.s)
		}
	}
	r.popDue(i)
	r.mu.Unlock()
	for _, s := range expired {
		r.answered(s, subscription.AckTimeout, &subscription.Error{Key: s.Key, Err: ErrAckTimeout})
	}
}

// popDue drops the first n deadlines and arms the clock for the next;
// mu is held.
func (r *registry) popDue(n int) {
	if n == 0 {
		return
	}
	clear(r.due[:n])
	r.due = r.due[n:]
	if len(r.due) == 0 {
		r.due = nil
		r.clock.Stop()
		return
	}
	r.clock.Reset(time.Until(r.due[0].at))
}

// unsubscribed reports whether s's subscribe is still answered, its
// unsubscribe written: the answer then completes the unsubscribe.
func (r *registry) unsubscribed(s *subscribed) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !s.waiting {
		return false
	}
	s.unsubbed = true
	return true
}

// answered fires ev (with err) on s, whose answer came or timed out, and
// completes its unsubscribe if it was waiting for that answer.
func (r *registry) answered(s *subscribed, ev subscription.Event, err error) {
	r.mu.Lock()
	unsubbed := s.unsubbed
	s.unsubbed = false
	r.mu.Unlock()
	ctx := context.Background()
	_ = s.fail(ctx, ev, err)
	if unsubbed {
		_ = s.m.Fire(ctx, subscription.Unsubscribed)
	}
}

// settle stops awaiting s's ack: it came, or will not.
func (r *registry) settle(s *subscribed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settleLocked(s)
}

func (r *registry) settleLocked(s *subscribed) {
	if !r.unwait(s) {
		return
	}
	// Answers come mostly in send order: drop the deadlines answered at
	// the head, so the clock wakes for a live one.
	i := 0
	for i < len(r.due) && !r.due[i].current() {
		i++
	}
	r.popDue(i)
}

// unwait stops awaiting s's answer, and reports whether it was; mu is
// held. Its deadline stays in due, stale.
func (r *registry) unwait(s *subscribed) bool {
	if !s.waiting {
		return false
	}
	s.waiting = false
	if s.Ack != nil {
		r.dropInflight(s)
		r.awaiting.Store(int32(len(r.inflight)))
	} else {
		r.routed.Add(-1)
	}
	return true
}

// claim hands m, read on ss, to the subscription awaiting an ack that it
// acknowledges or refuses, in the order they were sent, and reports
// whether one took it: an ack or a NACK is not data. A matcher that
// panics fails its subscription and takes nothing.
func (r *registry) claim(ss *session, m transport.Message) bool {
	if r.routed.Load() > 0 && r.claimRouted(ss.c, ss, m) {
		return true
	}
	if r.awaiting.Load() == 0 {
		return false
	}
	r.mu.Lock()
	for _, s := range r.inflight {
		if s.ackOn != ss.epoch {
			continue
		}
		ev, err := s.answer(m)
		if ev == noAnswer {
			continue
		}
		r.settleLocked(s)
		r.mu.Unlock()
		r.answered(s, ev, err)
		return err == nil || !errors.As(err, new(*tasks.PanicError))
	}
	r.mu.Unlock()
	return false
}

// noAnswer: m is not an answer to the subscription.
const noAnswer = subscription.Event(255)

// answer reports what m is to s: Ack, Nack (with the error), or
// noAnswer. A matcher's panic is a Nack whose error holds it.
func (s *subscribed) answer(m transport.Message) (ev subscription.Event, err error) {
	defer func() {
		if p := recover(); p != nil {
			ev = subscription.Nack
			err = &subscription.Error{Key: s.Key, Err: &tasks.PanicError{Task: "subscription matcher", Value: p, Stack: debug.Stack()}}
		}
	}()
	if s.Ack(m) {
		return subscription.Ack, nil
	}
	if s.Nack != nil && s.Nack(m) {
		return subscription.Nack, &subscription.Error{Key: s.Key, Message: append([]byte(nil), m.Data...), Err: ErrSubscriptionRefused}
	}
	return noAnswer, nil
}

// awaitAck waits until s is no longer Subscribing and says how it ended,
// as Subscribe documents.
func (c *Client) awaitAck(ctx context.Context, s *subscribed) error {
	err := s.m.Await(ctx, func(m *subMachine) bool { return m.State() != subscription.Subscribing })
	switch {
	case errors.Is(err, fsm.ErrStopped):
		return nil // Removed: unsubscribed meanwhile
	case err != nil:
		return fmt.Errorf("session: subscription %q: %w", s.Key, err)
	}
	switch s.m.State() {
	case subscription.Failed:
		return s.failure()
	case subscription.Pending:
		err := s.failure()
		if errors.Is(err, ErrAckTimeout) {
			return err
		}
		if err != nil {
			return fmt.Errorf("%w: subscription %q: the connection ended before its ack: %w", ErrNotConnected, s.Key, err)
		}
	}
	return nil // Active, Resyncing, Unsubscribing, Removed
}

// replay sends, during the sync of ss, every subscription not yet sent on
// it, in order (subscriptions registered meanwhile too), then waits for
// their acks, or their ack timeouts: a subscription that fails is its own
// failure, not the connection's. An error writing fails the sync.
func (c *Client) replay(ctx context.Context, ss *session) error {
	var sent []*subscribed
	for {
		n := len(sent)
		var due []*subscribed
		for _, s := range c.subs.Load().snapshot() {
			if s.m.State() == subscription.Pending && s.conn.Load() != ss.epoch {
				due = append(due, s)
			}
		}
		if b := c.cfg.batch; b != nil {
			for start := 0; start < len(due); start += b.Max {
				batch, err := c.sendBatch(ctx, ss, due[start:min(start+b.Max, len(due))])
				if err != nil {
					return err
				}
				sent = append(sent, batch...)
			}
		} else {
			for _, s := range due {
				if err := c.sendSubscription(ctx, ss, s); err != nil {
					return err
				}
				sent = append(sent, s)
			}
		}
		if len(sent) == n {
			break
		}
	}
	for _, s := range sent {
		if err := c.awaitAck(ctx, s); err != nil && ctx.Err() != nil {
			return nil // the sync is over: Alive is being left
		}
	}
	return nil
}

// subscriptionsLost tells every subscription sent on the connection of
// epoch that it is gone (Lost, with cause): those Subscribing or Active go
// back to Pending, for the next connection.
func (c *Client) subscriptionsLost(ctx context.Context, epoch uint64, cause error) {
	for _, s := range c.subs.Load().snapshot() { // the registry exists if a subscription does
		c.reg().mu.Lock()
		mine := s.conn.Load() == epoch || s.waiting && s.ackOn == epoch
		if mine {
			s.unsubbed = false
			c.reg().settleLocked(s)
		}
		c.reg().mu.Unlock()
		if mine {
			_ = s.fail(ctx, subscription.Lost, cause)
		}
	}
}

// The kinds of the records the client's own machines add to its
// lifecycle's (fsm.RecordOwner and above).
const (
	// RecordSubscription is the Kind of the records OnRecord receives for
	// the steps of a subscription's machine: their Payload is a
	// *subscription.Record, and their other fields are zero but When and
	// Reason. An observer that only knows the lifecycle's kinds skips them.
	RecordSubscription = fsm.RecordOwner
	// RecordDataPath is the Kind of the records OnRecord receives for the
	// steps of a connection's data path: their Payload is a *datapath.Record,
	// their Epoch the connection's, and their other fields are zero but When
	// and Reason. An observer that only knows the lifecycle's kinds skips
	// them.
	//
	// The observer hears of every change of the data path but the steady
	// flow: a step between Flowing and Busy (a message handed over, the
	// handler returning) is reported only as the first after another state,
	// so a handler that keeps up costs the observer nothing per message,
	// while a stall shows as Busy, ReadAhead, Backlogged, Taking, and the
	// return to Flowing. They come on the goroutine that moved the data path
	// (the reader, the read-ahead, the heartbeat), with a ctx from inside the
	// lifecycle: Close(ctx) there starts the close and returns.
	RecordDataPath = fsm.RecordOwner + 1
)

// observe turns a step of s's machine into a record of the client's.
func (s *subscribed) observe(ctx context.Context, r subRecord) {
	sr := &subscription.Record{Key: s.Key, Kind: r.Kind, From: r.From, Event: r.Event, To: r.To, Conn: s.conn.Load()}
	if epoch, ok := r.Payload.(uint64); ok && r.Event == subscription.Send {
		sr.Conn = epoch // the connection it is being sent on
	}
	if r.Kind == fsm.RecordRejected {
		sr.Cause = r.Err
	} else if err, ok := r.Payload.(error); ok {
		sr.Cause = err
	}
	s.c.observe(ctx, record{Kind: RecordSubscription, When: r.When, Reason: r.Reason, Payload: sr, Err: sr.Cause})
}
