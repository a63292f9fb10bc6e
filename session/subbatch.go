package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/connfsm/connfsm/session/subscription"
)

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
	Type MessageType
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
		typ, typeOK := b.Type.orText()
		switch {
		case b.Max <= 0:
			c.problems = append(c.problems, fmt.Errorf("Batch.Max must be positive, got %d", b.Max))
		case b.Subscribe == nil:
			c.problems = append(c.problems, fmt.Errorf("Batch.Subscribe: nil func"))
		case !typeOK:
			c.problems = append(c.problems, fmt.Errorf("Batch.Type %d is neither Text nor Binary", b.Type))
		default:
			b.Type = typ
			c.batch = &b
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
		c.subs.sending(c, s, ss.epoch)
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
	if err := c.paced(ctx, ss, c.cfg.batch.Type, c.cfg.batch.Subscribe(keys)); err != nil {
		for _, s := range sent {
			c.subs.settle(s)
			_ = s.fail(ctx, subscription.Lost, &SubscriptionError{Key: s.Key, Err: err})
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
// otherwise each with its own message. Unknown keys are no error.
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
	var last []*subscribed
	c.subs.mu.Lock()
	for _, k := range keys {
		if s := c.subs.byKey[k]; s != nil && s.refs > 0 {
			if s.refs--; s.refs == 0 {
				last = append(last, s)
			}
		}
	}
	c.subs.mu.Unlock()
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
		c.subs.sentOn(s, 0)
		if !c.subs.unsubscribed(s) {
			_ = s.m.FireWith(ctx, subscription.Unsubscribed, err)
		}
	}
	for _, s := range subs {
		s.mu.Unlock()
	}
	return err
}
