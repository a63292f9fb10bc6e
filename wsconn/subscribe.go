package wsconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/connfsm/connfsm"
)

// Subscription is a stream the client subscribes to through its registry
// (Subscribe): it is sent at once when the client is Ready, remembered, and
// sent again on every new connection, in subscription order, while the
// connection syncs.
type Subscription struct {
	// Key names the subscription: a second Subscribe with the same key sends
	// nothing (subscriptions are not reference-counted), and Unsubscribe
	// takes it.
	Key string
	// Type is the messages' type: Text (the default, when zero) or Binary.
	Type MessageType
	// Message subscribes, e.g. {"op":"subscribe","args":["trades.BTC"]}.
	Message []byte
	// Unsubscribe, if not nil, is sent by Unsubscribe while Ready.
	Unsubscribe []byte
	// Ack, if not nil, recognises the venue's acknowledgement of Message:
	// the subscription waits for it (up to the ack timeout on a new
	// connection, see WithAckTimeout), and the ack is not handed to
	// OnMessage. It is called as Request's match is.
	Ack func(m Message) bool
}

// SubscriptionError is why a subscription failed: its ack did not come, or
// its message could not be written. While syncing, it is the cause of the
// Lost that ends the connection.
type SubscriptionError struct {
	Key string
	Err error
}

// Error names the subscription and the failure.
func (e *SubscriptionError) Error() string {
	return fmt.Sprintf("wsconn: subscription %q: %v", e.Key, e.Err)
}

// Unwrap returns the failure.
func (e *SubscriptionError) Unwrap() error { return e.Err }

// DefaultAckTimeout is the wait for a subscription's ack while a new
// connection syncs, when WithAckTimeout is not given.
const DefaultAckTimeout = 10 * time.Second

// WithAckTimeout bounds the wait for each subscription's ack while a
// connection syncs: an ack that does not come within d fails the sync
// (Lost, with a *SubscriptionError matching ErrAckTimeout).
func WithAckTimeout(d time.Duration) Option { return func(c *config) { c.ackTimeout = d } }

// WithSubscriptions subscribes before the client starts: subs are the
// first subscriptions, in order, replayed by the sync of the first
// connection and of every one after it, as Subscribe's are. A sub without
// a key or a message is a configuration error.
func WithSubscriptions(subs ...Subscription) Option {
	return func(c *config) {
		for _, s := range subs {
			if err := s.check(); err != nil {
				c.problems = append(c.problems, fmt.Errorf("Subscriptions: %w", err))
				continue
			}
			c.subscriptions = append(c.subscriptions, s.normal())
		}
	}
}

// check reports what makes sub unusable.
func (sub Subscription) check() error {
	switch {
	case sub.Key == "":
		return errors.New("empty key")
	case sub.Message == nil:
		return fmt.Errorf("%q: nil message", sub.Key)
	case sub.Type != 0 && sub.Type != Text && sub.Type != Binary:
		return fmt.Errorf("%q: message type %d is neither Text nor Binary", sub.Key, sub.Type)
	}
	return nil
}

// normal returns sub with its defaults and its own copies of the messages.
func (sub Subscription) normal() Subscription {
	if sub.Type == 0 {
		sub.Type = Text
	}
	sub.Message, sub.Unsubscribe = bytes.Clone(sub.Message), bytes.Clone(sub.Unsubscribe)
	return sub
}

// registry is the client's subscriptions, in subscription order.
type registry struct {
	mu   sync.Mutex
	subs []*subscribed
}

type subscribed struct {
	Subscription
	mu   sync.Mutex // held while it is sent: the replay and Subscribe never both send it
	sent uint64     // the Alive epoch it was last sent on
}

// Subscribe adds sub to the client's subscriptions. If the client is Ready,
// Subscribe sends it at once, paced by the rate limiter, and, with an Ack,
// waits for the ack (bounded by ctx); while Syncing it waits for Ready
// first (the sync may replay it meanwhile, and then it is not sent twice);
// while Connecting or Reconnecting it only registers it: the next
// connection's sync sends it. Every new connection replays all
// subscriptions, in order, before the user's sends are released. After
// Close, Subscribe returns ErrClosed.
//
// A key already subscribed sends nothing and returns nil. An error from the
// send or the ack leaves the subscription registered: the next connection
// sends it again.
func (c *Client) Subscribe(ctx context.Context, sub Subscription) error {
	if err := sub.check(); err != nil {
		return fmt.Errorf("wsconn: Subscribe: %w", err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if st := c.m.State(); st == connfsm.Closing || st == connfsm.Closed {
		return ErrClosed
	}
	s, added := c.subs.add(sub.normal())
	if !added {
		return nil
	}
	return c.subscribeAdded(ctx, s)
}

// subscribeAdded sends s, just added to the registry, as Subscribe says.
func (c *Client) subscribeAdded(ctx context.Context, s *subscribed) error {
	conn, err := c.sendable(ctx)
	switch {
	case err != nil:
		return err
	case conn == nil:
		c.bufMu.Unlock()
		return nil // registered: the next connection's sync sends it
	}
	return c.sendSubscription(ctx, conn, s)
}

// Unsubscribe removes the subscription key: no later connection sends it.
// If the client is Ready and the subscription has an Unsubscribe message,
// that is sent, paced by the rate limiter. An unknown key is no error.
func (c *Client) Unsubscribe(ctx context.Context, key string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	return c.unsubscribeRemoved(ctx, c.subs.remove(key))
}

// unsubscribeRemoved sends the Unsubscribe message of sub, just removed
// from the registry (nil if it was not there), as Unsubscribe says.
func (c *Client) unsubscribeRemoved(ctx context.Context, sub *subscribed) error {
	if sub == nil || sub.Unsubscribe == nil || c.m.State() != connfsm.Ready {
		return nil
	}
	s := c.sess.Load()
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if s == nil || sub.sent != s.epoch {
		return nil // not subscribed on this connection
	}
	return c.paced(ctx, s, sub.Type, sub.Unsubscribe)
}

// Subscriptions returns the keys of the client's subscriptions, in order.
func (c *Client) Subscriptions() []string {
	c.subs.mu.Lock()
	defer c.subs.mu.Unlock()
	keys := make([]string, len(c.subs.subs))
	for i, s := range c.subs.subs {
		keys[i] = s.Key
	}
	return keys
}

func (r *registry) add(sub Subscription) (*subscribed, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.ContainsFunc(r.subs, func(s *subscribed) bool { return s.Key == sub.Key }) {
		return nil, false
	}
	s := &subscribed{Subscription: sub}
	r.subs = append(r.subs, s)
	return s, true
}

func (r *registry) remove(key string) *subscribed {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.subs, func(s *subscribed) bool { return s.Key == key })
	if i < 0 {
		return nil
	}
	s := r.subs[i]
	r.subs = slices.Delete(r.subs, i, i+1)
	return s
}

// next returns the first subscription not sent on the connection of
// epoch, or nil.
func (r *registry) next(epoch uint64) *subscribed {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.subs {
		s.mu.Lock()
		sent := s.sent
		s.mu.Unlock()
		if sent != epoch {
			return s
		}
	}
	return nil
}

// sendSubscription sends sub on s unless it was sent there already, and
// awaits its ack if it has one.
func (c *Client) sendSubscription(ctx context.Context, s *session, sub *subscribed) error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.sent == s.epoch {
		return nil
	}
	var err error
	if sub.Ack != nil {
		_, err = c.request(ctx, s, sub.Type, sub.Message, sub.Ack)
	} else {
		err = c.paced(ctx, s, sub.Type, sub.Message)
	}
	if err != nil {
		return &SubscriptionError{Key: sub.Key, Err: err}
	}
	sub.sent = s.epoch
	return nil
}

// replay sends, during the sync of s, every subscription not yet sent on
// it, in order, each ack awaited up to the ack timeout. Subscriptions added
// meanwhile are sent too.
func (c *Client) replay(ctx context.Context, s *session) error {
	for {
		sub := c.subs.next(s.epoch)
		if sub == nil {
			return nil
		}
		actx, cancel := context.WithTimeoutCause(ctx, c.cfg.ackTimeout, ErrAckTimeout)
		err := c.sendSubscription(actx, s, sub)
		cancel()
		if err != nil {
			return err
		}
	}
}
