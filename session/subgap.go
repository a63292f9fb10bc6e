package session

import (
	"context"
	"fmt"

	"github.com/connfsm/connfsm/session/subscription"
)

// checkSequence checks m, a data message of s read on ss, against the
// next number expected. Only an Active subscription has one: the first
// message of a connection, or after a resync, sets it. A number past it
// is a gap: counted, fired (Gap), and the resync started. A number behind
// it (a duplicate) is no gap.
func (c *Client) checkSequence(ss *session, s *subscribed, m Message) {
	if s.Sequence == nil {
		return
	}
	seq, ok := sequenceOf(s, m)
	if !ok {
		return
	}
	if s.m.State() != subscription.Active {
		s.seqOn = 0 // resyncing, or not yet acked: no baseline
		return
	}
	switch {
	case s.seqOn != ss.epoch:
		s.nextSeq, s.seqOn = seq+1, ss.epoch
	case seq == s.nextSeq:
		s.nextSeq++
	case seq > s.nextSeq:
		s.counters.gaps.Add(1)
		gap := &subscription.SequenceGap{Want: s.nextSeq, Got: seq}
		s.seqOn = 0
		_ = s.m.FireWith(context.Background(), subscription.Gap, gap)
		if s.m.State() == subscription.Resyncing {
			s.counters.resyncs.Add(1)
			c.startResync(ss, s)
		}
	}
}

// sequenceOf calls s.Sequence; one that panics tells nothing.
func sequenceOf(s *subscribed, m Message) (seq uint64, ok bool) {
	defer func() {
		if recover() != nil {
			seq, ok = 0, false
		}
	}()
	return s.Sequence(m)
}

// startResync runs s's resync on ss on a goroutine of its own, not the
// reader's: a resubscribe's ack, or a snapshot's reply, must be read while
// it waits. It is bound to ss's Alive: its context is the handler's, which
// the reader task ends before it returns, and Alive's exit hook joins it
// (Client.resyncs) before the subscriptions are told the connection is
// lost. A gap seen once that context has ended starts nothing.
func (c *Client) startResync(ss *session, s *subscribed) {
	ss.mu.Lock()
	var ctx context.Context
	if ss.hctx != nil { // the reader task started the pump: always, for a message routed
		ctx = ss.handlerContextLocked()
	}
	ss.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return // Alive is being left: Lost takes it to Pending
	}
	c.resyncs.Go(func() { c.resync(ctx, ss, s) })
}

// resync runs s's resync on ss: the user's, or an unsubscribe and a
// subscribe.
func (c *Client) resync(ctx context.Context, ss *session, s *subscribed) {
	if s.Resync != nil {
		err := s.Resync(ctx, s.Key)
		if ctx.Err() != nil {
			return // the connection is left: Lost takes it to Pending
		}
		if err != nil {
			_ = s.fail(ctx, subscription.Nack, &SubscriptionError{Key: s.Key, Err: fmt.Errorf("resync: %w", err)})
			return
		}
		_ = s.m.Fire(ctx, subscription.Resynced)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m.State() != subscription.Resyncing {
		return
	}
	if s.Unsubscribe != nil {
		if err := c.paced(ctx, ss, s.Type, s.Unsubscribe); err != nil {
			return // the connection failed: Lost takes it to Pending
		}
	}
	c.subs.sending(c, s, ss.epoch)
	if err := c.paced(ctx, ss, s.Type, s.Message); err != nil {
		c.subs.settle(s)
		return
	}
	if !s.awaitsAck(c) {
		_ = s.m.Fire(ctx, subscription.Ack)
	}
}
