package session

import (
	"context"
	"fmt"
	"sync"

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
			c.resyncs.start(c, ss, s)
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

// resyncs are the resyncs running on the current connection. They run on
// goroutines of their own, not the reader's: a resubscribe's ack, or a
// snapshot's reply, must be read while they wait. Leaving Alive ends
// their context and joins them (end).
type resyncs struct {
	mu     sync.Mutex
	epoch  uint64
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// start resyncs s on ss.
func (r *resyncs) start(c *Client, ss *session, s *subscribed) {
	r.mu.Lock()
	if r.epoch != ss.epoch || r.ctx == nil {
		r.epoch = ss.epoch
		r.ctx, r.cancel = context.WithCancel(context.Background())
	}
	ctx := r.ctx
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		c.resync(ctx, ss, s)
	}()
}

// end cancels the resyncs of the connection of epoch and waits for them.
func (r *resyncs) end(epoch uint64) {
	r.mu.Lock()
	if r.epoch == epoch && r.cancel != nil {
		r.cancel()
		r.ctx, r.cancel = nil, nil
	}
	r.mu.Unlock()
	r.wg.Wait()
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
