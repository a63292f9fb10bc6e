package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
)

// Subscription is a stream the client subscribes to (Subscribe). Each key
// is a machine of its own, declared in package subscription (diagram:
// docs/subscription.md): Pending until it is sent, Subscribing until its
// ack, Active, Resyncing after a sequence gap, Unsubscribing, Failed,
// Removed. It is sent at once when the client is Ready, and on every new
// connection, in subscription order, while the connection syncs: exactly
// once per connection.
type Subscription struct {
	// Key names the subscription. Subscribe of a key already held adds a
	// holder and sends nothing; the last holder's Unsubscribe sends the
	// unsubscribe.
	Key string
	// Type is the messages' type: Text (the default, when zero) or Binary.
	Type transport.MessageType
	// Message subscribes, e.g. {"op":"subscribe","args":["trades.BTC"]}.
	Message []byte
	// Unsubscribe, if not nil, is sent when the last holder unsubscribes,
	// on the connection the subscription was sent on, even while that
	// connection syncs.
	Unsubscribe []byte
	// Ack, if not nil, recognises the venue's acknowledgement of Message:
	// the subscription is Subscribing until it comes (up to the ack
	// timeout, WithAckTimeout), and the ack is not handed to OnMessage.
	// Without it, the subscription is Active once Message is written. It
	// is called by the connection's reader and must be quick; one that
	// panics fails its subscription, not the connection.
	Ack func(m transport.Message) bool
	// Nack, if not nil, recognises the venue's refusal of Message: the
	// subscription is then Failed, with a *SubscriptionError holding the
	// message and matching ErrSubscriptionRefused. It is called as Ack is.
	Nack func(m transport.Message) bool
	// Handler, if not nil, handles the subscription's data messages, in
	// place of OnMessage, as OnMessage would (one at a time, on the
	// reader). It needs a Router (WithRouter) to tell them.
	Handler func(ctx context.Context, m transport.Message)
	// Sequence, if not nil, returns a data message's sequence number (ok
	// false for a message without one); it needs a Router to route the
	// messages. A number past the next expected is a gap: the
	// subscription resyncs (Resyncing), and the gap is counted
	// (SubscriptionStats.Gaps) and observed (a Gap step). See Resync.
	Sequence func(m transport.Message) (seq uint64, ok bool)
	// Resync, if not nil, resyncs the stream after a gap, e.g. fetches a
	// snapshot with Client.Request: the subscription is Active again when
	// it returns nil, and Failed with its error otherwise. It runs on a
	// goroutine of its own, with a context that ends when the connection
	// is left. Without it, the resync unsubscribes (Unsubscribe, if set)
	// and subscribes again on the same connection, and the new
	// subscribe's ack (or its write, without one) ends it.
	//
	// While Resyncing, the stream's messages are still delivered (a
	// snapshot resync may need them to bridge the snapshot) but not
	// checked: the first message once Active again sets the next
	// expected number.
	Resync func(ctx context.Context, key string) error
	// Retry says what becomes of a subscription refused (Nack) or not
	// acknowledged in time: with Retry, it is sent again on the next
	// connection (an ack timeout makes it Pending; a refusal keeps it
	// Failed until then); without, it stays Failed until Subscribe asks
	// for it again.
	Retry bool
}

// WithAckTimeout bounds the wait for each subscription's ack, measured
// from the write of its message: an ack that does not come within d makes
// the subscription Failed with a *SubscriptionError matching ErrAckTimeout,
// or Pending if it retries (Subscription.Retry). The connection stays.
func WithAckTimeout(d time.Duration) Option { return func(c *config) { c.ackTimeout = d } }

// WithSubscriptions subscribes before the client starts: subs are the
// first subscriptions, in order, sent by the sync of the first connection
// and of every one after it, as Subscribe's are. A sub without a key or a
// message is a configuration error.
func WithSubscriptions(subs ...Subscription) Option {
	return func(c *config) {
		if c.poolConn {
			return
		}
		for _, s := range subs {
			if err := s.check(); err != nil {
				c.problems = append(c.problems, fmt.Errorf("Subscriptions: %w", err))
				continue
			}
			c.subscriptions = append(c.subscriptions, s.normal())
		}
	}
}

// check reports what makes sub unusable, matching ErrBadSubscription.
func (sub Subscription) check() error {
	_, typeOK := textOr(sub.Type)
	switch {
	case sub.Key == "":
		return fmt.Errorf("%w: empty key", ErrBadSubscription)
	case sub.Message == nil:
		return fmt.Errorf("%w: %q: nil message", ErrBadSubscription, sub.Key)
	case !typeOK:
		return fmt.Errorf("%w: %q: message type %d is neither Text nor Binary", ErrBadSubscription, sub.Key, sub.Type)
	}
	return nil
}

// checkOn reports a message of sub that tr cannot carry (CheckMessage),
// matching ErrBadSubscription.
func (sub Subscription) checkOn(tr transport.Transport) error {
	typ, _ := textOr(sub.Type)
	for _, m := range [][]byte{sub.Message, sub.Unsubscribe} {
		if m == nil {
			continue
		}
		if err := checkMessage(tr, typ, m); err != nil {
			return fmt.Errorf("%w: %q: %w", ErrBadSubscription, sub.Key, err)
		}
	}
	return nil
}

// normal returns sub with its defaults and its own copies of the messages.
func (sub Subscription) normal() Subscription {
	sub.Type, _ = textOr(sub.Type)
	sub.Message, sub.Unsubscribe = bytes.Clone(sub.Message), bytes.Clone(sub.Unsubscribe)
	return sub
}

type (
	subMachine = fsm.Machine[subscription.State, subscription.Event]
	subStep    = fsm.Transition[subscription.State, subscription.Event]
	subRecord  = fsm.Record[subscription.State, subscription.Event]
)

// subscribed is one key's subscription: its machine, and what its
// machine's hooks and the client share about it.
type subscribed struct {
	Subscription
	c *Client
	m *subMachine
	// mu orders what is written for this key: a subscribe and its
	// unsubscribe are written in the order their events were fired.
	mu sync.Mutex

	// Under the registry's mu.
	refs int // holders: Subscribe calls not yet undone by Unsubscribe

	// Written under both mu and the registry's mu; read under either.
	conn    atomic.Uint64 // the epoch of the connection it is subscribed on; 0 once unsubscribed there
	gen     uint64        // sends so far: a deadline of an earlier send is stale
	waiting bool          // an answer (ack, NACK) to the send under way is awaited
	ackOn   uint64        // the epoch of the connection that answer is due on
	// unsubbed: its unsubscribe is written while the subscribe's answer
	// is still due; that answer completes the unsubscribe.
	unsubbed bool

	counters subCounters
	// The sequence check, owned by the connection's reader: the next
	// number expected, on the connection of epoch seqOn (0: none yet).
	nextSeq uint64
	seqOn   uint64

	// cause is why it last became Failed or Pending, for Subscribe's
	// caller: kept by fail before the event that carries it is fired.
	cause atomic.Pointer[error]
}

// failure returns why it last became Failed or Pending, or nil.
func (s *subscribed) failure() error {
	if p := s.cause.Load(); p != nil {
		return *p
	}
	return nil
}

// Retries tells the table whether a refused or timed-out subscription is
// retried (subscription.Retrier).
func (s *subscribed) Retries() bool { return s.Retry }

// subscriptionDef is every subscription's machine: built once, shared.
var subscriptionDef = sync.OnceValue(func() *fsm.Definition[subscription.State, subscription.Event] {
	return subscription.NewBuilder().
		OnEnter(subscription.Removed, func(_ context.Context, t subStep) {
			s := t.Env.(*subscribed)
			s.c.reg().forget(s)
		}).
		MustBuild()
})

// registry is the client's subscriptions, by key and in order.
type registry struct {
	mu    sync.Mutex
	byKey map[string]*subscribed
	order []*subscribed
	// inflight are the subscriptions awaiting an ack, in the order they
	// were sent: the reader tries their matchers. awaiting mirrors its
	// length, for the reader to look without the lock.
	inflight []*subscribed
	awaiting atomic.Int32
	// due are the ack deadlines, in send order; clock fires at the first.
	due   []dueAck
	clock *time.Timer
	// routed counts the subscriptions awaiting an answer the Router
	// tells (no Ack matcher): while there are some, the reader asks it.
	routed atomic.Int32
}

// newSubscribed makes sub's machine for c, not started: Start enters
// Pending.
func (c *Client) newSubscribed(sub Subscription) *subscribed {
	s := &subscribed{Subscription: sub, c: c, refs: 1}
	def := subscriptionDef()
	var obs func(context.Context, subRecord)
	if c.cfg.onRecord != nil || c.cfg.logger != nil || c.probe != nil {
		obs = s.observe
	}
	s.m = def.New(fsm.Config[subscription.State, subscription.Event]{Observer: obs, Env: s})
	return s
}

// hold adds a holder of sub's key: a new subscription, or one more
// reference to the one there, which is returned with added false.
func (c *Client) hold(sub Subscription) (s *subscribed, added bool) {
	r := c.reg()
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.byKey[sub.Key]; s != nil {
		s.refs++
		return s, false
	}
	if r.byKey == nil {
		r.byKey = make(map[string]*subscribed)
	}
	s = c.newSubscribed(sub)
	r.byKey[sub.Key] = s
	r.order = append(r.order, s)
	return s, true
}

// holdStarted is hold, with a new subscription's machine started (outside
// the registry's lock: its observer is the user's).
func (c *Client) holdStarted(sub Subscription) (*subscribed, bool) {
	s, added := c.hold(sub)
	if added {
		s.m.Start(context.Background())
	}
	return s, added
}

// held reports whether s has holders: a Subscribe may come between the
// Unsubscribe that took its last holder and that Unsubscribe's turn.
func (r *registry) held(s *subscribed) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.refs > 0
}

// forget removes s, Removed, from the registry.
func (r *registry) forget(s *subscribed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byKey[s.Key] == s {
		delete(r.byKey, s.Key)
	}
	for i, o := range r.order {
		if o == s {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
	r.dropInflight(s)
}

// dropInflight stops trying s's matchers; mu is held.
func (r *registry) dropInflight(s *subscribed) {
	for i, o := range r.inflight {
		if o == s {
			r.inflight = append(r.inflight[:i], r.inflight[i+1:]...)
			return
		}
	}
}

// snapshot returns the subscriptions in order; none from a registry
// never made (nil).
func (r *registry) snapshot() []*subscribed {
	if r == nil { // never made: no subscription
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*subscribed(nil), r.order...)
}

// Subscribe adds a holder of sub.Key. A key not held yet becomes a
// subscription: if the client is Ready it is sent at once, paced by the
// rate limiter, and, with an Ack, Subscribe waits for the ack (bounded by
// ctx and the ack timeout); while Syncing it waits for Ready first (the
// sync sends it meanwhile); while Connecting or Reconnecting it is only
// registered: the next connection's sync sends it. A key already held
// sends nothing (a reference count), unless it had failed: then it is
// sent again. After Close, Subscribe returns ErrClosed.
//
// It returns nil once the subscription is Active, or registered for the
// next connection; a *SubscriptionError if the venue refused it
// (ErrSubscriptionRefused) or did not acknowledge it in time
// (ErrAckTimeout); an error wrapping ErrNotConnected if the connection
// ended first (it is then sent again on the next); ctx's error if it ended
// first (the holder stays, and a subscription not yet written is sent by
// the next Subscribe of its key, or the next connection). A bad sub fails
// with an error matching ErrBadSubscription.
func (c *Client) Subscribe(ctx context.Context, sub Subscription) error {
	if err := sub.check(); err != nil {
		return fmt.Errorf("session: Subscribe: %w", err)
	}
	if err := sub.checkOn(c.tr); err != nil {
		return fmt.Errorf("session: Subscribe: %w", err)
	}
	if ctx == nil {
		return errNilContext("Subscribe")
	}
	if st := c.m.State(); st == connfsm.Closing || st == connfsm.Closed {
		return ErrClosed
	}
	s, added := c.holdStarted(sub.normal())
	for !added {
		s.mu.Lock()
		failed := s.m.State() == subscription.Failed
		err := s.m.Fire(ctx, subscription.Subscribe)
		if errors.Is(err, fsm.ErrStopped) {
			// Removed by an unsubscribe that had its last holder before
			// this one came: the key is a new subscription.
			s.mu.Unlock()
			c.reg().forget(s)
			s, added = c.holdStarted(sub.normal())
			continue
		}
		if failed {
			c.reg().sentOn(s, 0) // asked for again: it may go on this connection
		}
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("session: Subscribe %q: %w", sub.Key, err)
		}
		break
	}
	if s.m.State() != subscription.Pending {
		return c.awaitAck(ctx, s) // held already: sent, or failed
	}
	conn, err := c.sendable(ctx)
	switch {
	case err != nil:
		return err
	case conn == nil:
		c.bufMu.Unlock()
		return nil // registered: the next connection's sync sends it
	}
	if err := c.sendSubscription(ctx, conn, s); err != nil {
		return err
	}
	// A handler under way (this may be it) reads nothing: the ack must
	// not wait for it.
	conn.lend()
	return c.awaitAck(ctx, s)
}

// Unsubscribe drops a holder of key. When the last holder goes, the
// subscription is unsubscribed: if it was sent on the connection now up
// (even one still syncing), its Unsubscribe message is sent there, paced
// by the rate limiter, after its subscribe; otherwise the venue does not
// carry it and nothing is sent. No later connection sends it. An unknown
// key is no error.
func (c *Client) Unsubscribe(ctx context.Context, key string) error {
	if ctx == nil {
		return errNilContext("Unsubscribe")
	}
	r := c.reg()
	r.mu.Lock()
	s := r.byKey[key]
	if s == nil || s.refs == 0 {
		r.mu.Unlock()
		return nil
	}
	s.refs--
	last := s.refs == 0
	r.mu.Unlock()
	if !last {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.held(s) {
		return nil // a Subscribe came meanwhile: it holds the key now
	}
	if err := s.m.Fire(ctx, subscription.Unsubscribe); err != nil {
		return fmt.Errorf("session: Unsubscribe %q: %w", key, err)
	}
	if s.m.State() != subscription.Unsubscribing {
		return nil // never sent on a live connection: Removed
	}
	var err error
	if ss := c.sess.Load(); ss != nil && ss.epoch == s.conn.Load() && s.Unsubscribe != nil {
		if err = c.paced(ctx, ss, s.Type, s.Unsubscribe); err != nil {
			err = fmt.Errorf("session: Unsubscribe %q: %w", key, err)
		}
	}
	c.reg().sentOn(s, 0) // unsubscribed there: a new Subscribe may send it again
	// Written (or the connection is gone, which forgets it): done, unless
	// the subscribe's answer is still due: the venue answers in order, so
	// that answer comes first, and is then taken as stale (claim).
	if !c.reg().unsubscribed(s) {
		_ = s.m.FireWith(ctx, subscription.Unsubscribed, err)
	}
	return err
}

// Subscriptions returns the keys the client's subscriptions hold, in
// order: not those whose last holder unsubscribed, even while their
// unsubscribe is under way (SubscriptionStatus shows them Unsubscribing).
func (c *Client) Subscriptions() []string {
	c.reg().mu.Lock()
	defer c.reg().mu.Unlock()
	keys := make([]string, 0, len(c.reg().order))
	for _, s := range c.reg().order {
		if s.refs > 0 {
			keys = append(keys, s.Key)
		}
	}
	return keys
}
