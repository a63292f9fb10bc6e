package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
)

// WithRouter routes messages to subscriptions (see Router): a
// subscription's messages go to its Handler, are counted per key
// (SubscriptionStatus) and checked for sequence gaps; messages no
// subscription claims go to OnMessage.
func WithRouter(r subscription.Router) Option {
	return unlessNil(r.Route == nil, "nil Router.Route", func(c *config) { c.router = &r })
}

// subCounters are a subscription's counters, written by the reader.
type subCounters struct {
	messages atomic.Uint64
	last     atomic.Int64 // clock() of the last message; 0 if none
	gaps     atomic.Uint64
	resyncs  atomic.Uint64
}

func (k *subCounters) stats() subscription.Stats {
	st := subscription.Stats{Messages: k.messages.Load(), Gaps: k.gaps.Load(), Resyncs: k.resyncs.Load()}
	if t := k.last.Load(); t != 0 {
		st.LastMessage = start.Add(time.Duration(t))
	}
	return st
}

// SubscriptionStatus returns the subscription key's state and counters,
// and false if the key is not subscribed.
func (c *Client) SubscriptionStatus(key string) (subscription.Status, bool) {
	c.reg().mu.Lock()
	s := c.reg().byKey[key]
	var holders int
	if s != nil {
		holders = s.refs
	}
	c.reg().mu.Unlock()
	if s == nil {
		return subscription.Status{}, false
	}
	st := subscription.Status{Key: key, State: s.m.State(), Holders: holders, Stats: s.counters.stats()}
	if st.State == subscription.Failed || st.State == subscription.Pending {
		st.Err = s.failure()
	}
	return st, true
}

// route asks the router what m is; a router that panics claims nothing.
func (c *Client) route(m transport.Message) (r subscription.Route) {
	defer func() {
		if recover() != nil {
			r = subscription.Route{}
		}
	}()
	return c.cfg.router.Route(m)
}

// handlerFor returns the handler of a data message read on ss: its
// subscription's (own is true), when the router names one that has a
// Handler, else OnMessage. The subscription's counters count it and its
// sequence is checked.
func (c *Client) handlerFor(ss *session, m transport.Message) (h func(context.Context, transport.Message), own bool) {
	h = c.cfg.onMessage
	if c.cfg.router == nil {
		return h, false
	}
	rt := c.route(m)
	if rt.Kind != subscription.Data {
		return h, false
	}
	c.reg().mu.Lock()
	s := c.reg().byKey[rt.Key]
	c.reg().mu.Unlock()
	if s == nil {
		return h, false
	}
	s.counters.messages.Add(1)
	s.counters.last.Store(int64(clock()))
	c.checkSequence(ss, s, m)
	if s.Handler != nil {
		return s.Handler, true
	}
	return h, false
}

// claimRouted takes m, read on ss, if the router says it answers a
// subscribe awaited there: an ack or a refusal is not data.
func (r *registry) claimRouted(c *Client, ss *session, m transport.Message) bool {
	rt := c.route(m)
	if rt.Kind != subscription.Acked && rt.Kind != subscription.Refused {
		return false
	}
	r.mu.Lock()
	s := r.byKey[rt.Key]
	if s == nil || !s.waiting || s.ackOn != ss.epoch {
		r.mu.Unlock()
		return true // an answer to nothing awaited: stale
	}
	r.settleLocked(s)
	r.mu.Unlock()
	if rt.Kind == subscription.Acked {
		r.answered(s, subscription.Ack, nil)
	} else {
		r.answered(s, subscription.Nack, &subscription.Error{Key: s.Key, Message: append([]byte(nil), m.Data...), Err: ErrSubscriptionRefused})
	}
	return true
}

// Batch makes one message subscribe (or unsubscribe) many keys, as venues
// take them: Binance's "params" list, OKX's "args". With it, a
// connection's sync sends the subscriptions it replays in messages of up
// to Max keys, and UnsubscribeAll unsubscribes in such messages too; a
// Subscribe while Ready still sends its own Subscription.Message. Acks
// and NACKs still resolve per key (the Router, or each subscription's
// matchers).
type Batch struct {
	// Max is the most keys one message carries: the venue's cap.
	Max int
	// Type is the messages' type: Text (the default, when zero) or Binary.
	Type transport.MessageType
	// Subscribe returns the message that subscribes keys.
	Subscribe func(keys []string) []byte
	// Unsubscribe, if not nil, returns the message that unsubscribes
	// keys; without it UnsubscribeAll sends each subscription's own.
	Unsubscribe func(keys []string) []byte
}

// WithBatch sends subscriptions in batches (see Batch). Max must be
// positive and Subscribe set.
func WithBatch(b Batch) Option {
	return func(c *config) {
		typ, typeOK := textOr(b.Type)
		switch {
		case b.Max <= 0:
			c.problems = append(c.problems, fmt.Errorf("Batch.Max must be positive, got %d", b.Max))
		case b.Subscribe == nil:
			c.problems = append(c.problems, fmt.Errorf("Batch.Subscribe: nil func"))
		case !typeOK:
			c.problems = append(c.problems, fmt.Errorf("Batch.Type %d is neither Text nor Binary", b.Type))
		default:
			// A copy per config: a Pool applies the option once per
			// connection, and each reads its own while the next dials.
			own := b
			own.Type = typ
			c.batch = &own
		}
	}
}

// sendBatch sends subs, Pending and not yet sent on ss, in one message:
// Send is fired for each first (their mu held, in order), then the batch
// is written. A write that fails leaves every one Pending.
func (c *Client) sendBatch(ctx context.Context, ss *session, subs []*subscribed) ([]*subscribed, error) {
	var sent []*subscribed
	keys := make([]string, 0, len(subs))
	for _, s := range subs {
		s.mu.Lock()
		if s.m.State() != subscription.Pending || s.conn.Load() == ss.epoch ||
			s.m.FireWith(ctx, subscription.Send, ss.epoch) != nil {
			s.mu.Unlock()
			continue
		}
		s.cause.Store(nil)
		c.reg().sending(c, s, ss.epoch)
		sent = append(sent, s)
		keys = append(keys, s.Key)
	}
	defer func() {
		for _, s := range sent {
			s.mu.Unlock()
		}
	}()
	if len(sent) == 0 {
		return nil, nil
	}
	msg := c.cfg.batch.Subscribe(keys)
	if err := checkMessage(c.tr, c.cfg.batch.Type, msg); err != nil {
		// Written, it would fail every connection it is replayed on: its
		// subscriptions fail instead, as if refused.
		for _, s := range sent {
			c.reg().settle(s)
			_ = s.fail(ctx, subscription.Nack, &subscription.Error{Key: s.Key, Err: err})
		}
		return nil, nil
	}
	if err := c.paced(ctx, ss, c.cfg.batch.Type, msg); err != nil {
		for _, s := range sent {
			c.reg().settle(s)
			_ = s.fail(ctx, subscription.Lost, &subscription.Error{Key: s.Key, Err: err})
		}
		return nil, fmt.Errorf("session: subscribe %d keys: %w", len(keys), err)
	}
	for _, s := range sent {
		if !s.awaitsAck(c) {
			_ = s.m.Fire(ctx, subscription.Ack)
		}
	}
	return sent, nil
}

// UnsubscribeAll drops a holder of each key, as Unsubscribe does; the
// subscriptions whose last holder went are unsubscribed together: with a
// Batch that has an Unsubscribe, in messages of up to Batch.Max keys,
// otherwise each with its own message. Unknown keys are no error. A batch
// message the transport cannot carry (see Transport) is refused before
// anything changes, with the transport's error (tcpconn's matches
// framing.ErrPayload): the keys stay subscribed, as the venue still has
// them.
func (c *Client) UnsubscribeAll(ctx context.Context, keys ...string) error {
	if ctx == nil {
		return errNilContext("UnsubscribeAll")
	}
	b := c.cfg.batch
	if b == nil || b.Unsubscribe == nil {
		var errs []error
		for _, k := range keys {
			if err := c.Unsubscribe(ctx, k); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	var last, dropped []*subscribed
	c.reg().mu.Lock()
	for _, k := range keys {
		if s := c.reg().byKey[k]; s != nil && s.refs > 0 {
			dropped = append(dropped, s)
			if s.refs--; s.refs == 0 {
				last = append(last, s)
			}
		}
	}
	// A message the transport cannot carry is refused before anything
	// changes: dropped here while the venue never heard, the keys' data
	// would go on arriving.
	for start := 0; start < len(last); start += b.Max {
		chunk := last[start:min(start+b.Max, len(last))]
		keys := make([]string, len(chunk))
		for i, s := range chunk {
			keys[i] = s.Key
		}
		if err := checkMessage(c.tr, b.Type, b.Unsubscribe(keys)); err != nil {
			for _, s := range dropped {
				s.refs++
			}
			c.reg().mu.Unlock()
			return fmt.Errorf("session: unsubscribe %d keys: %w", len(keys), err)
		}
	}
	c.reg().mu.Unlock()
	var errs []error
	for start := 0; start < len(last); start += b.Max {
		if err := c.unsubscribeBatch(ctx, last[start:min(start+b.Max, len(last))]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// unsubscribeBatch fires Unsubscribe on subs and writes one message for
// those that were sent on the connection now up.
func (c *Client) unsubscribeBatch(ctx context.Context, subs []*subscribed) error {
	ss := c.sess.Load()
	var sent []*subscribed
	var keys []string
	for _, s := range subs {
		s.mu.Lock()
		if c.reg().held(s) {
			continue // a Subscribe came meanwhile: it holds the key now
		}
		_ = s.m.Fire(ctx, subscription.Unsubscribe)
		if s.m.State() == subscription.Unsubscribing && ss != nil && ss.epoch == s.conn.Load() {
			sent = append(sent, s)
			keys = append(keys, s.Key)
		} else if s.m.State() == subscription.Unsubscribing {
			_ = s.m.Fire(ctx, subscription.Unsubscribed) // the connection it was on is gone
		}
	}
	var err error
	if len(keys) > 0 {
		if err = c.paced(ctx, ss, c.cfg.batch.Type, c.cfg.batch.Unsubscribe(keys)); err != nil {
			err = fmt.Errorf("session: unsubscribe %d keys: %w", len(keys), err)
		}
	}
	for _, s := range sent {
		c.reg().sentOn(s, 0)
		if !c.reg().unsubscribed(s) {
			_ = s.m.FireWith(ctx, subscription.Unsubscribed, err)
		}
	}
	for _, s := range subs {
		s.mu.Unlock()
	}
	return err
}

// checkSequence checks m, a data message of s read on ss, against the
// next number expected. Only an Active subscription has one: the first
// message of a connection, or after a resync, sets it. A number past it
// is a gap: counted, fired (Gap), and the resync started. A number behind
// it (a duplicate) is no gap.
func (c *Client) checkSequence(ss *session, s *subscribed, m transport.Message) {
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
func sequenceOf(s *subscribed, m transport.Message) (seq uint64, ok bool) {
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
// the reader task ends before it joins the resyncs (Client.resyncs), so
// a resync that ignores its context makes the reader task a straggler,
// reported and left behind, and Alive's exit bounded. A gap seen once
// that context has ended starts nothing.
func (c *Client) startResync(ss *session, s *subscribed) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.hctx == nil { // the reader task started the pump: always, for a message routed
		return
	}
	ctx := ss.handlerContextLocked()
	if ctx.Err() != nil {
		return // Alive is being left: Lost takes it to Pending
	}
	// Under mu, as endHandler ends ctx: a resync started is one the
	// reader task's join waits for.
	wg := c.resyncs.Load()
	if wg == nil {
		wg = new(sync.WaitGroup)
		c.resyncs.Store(wg)
	}
	wg.Go(func() { c.resync(ctx, ss, s) })
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
			_ = s.fail(ctx, subscription.Nack, &subscription.Error{Key: s.Key, Err: fmt.Errorf("resync: %w", err)})
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
	c.reg().sending(c, s, ss.epoch)
	if err := c.paced(ctx, ss, s.Type, s.Message); err != nil {
		c.reg().settle(s)
		return
	}
	if !s.awaitsAck(c) {
		_ = s.m.Fire(ctx, subscription.Ack)
	}
}
