package session

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm/session/subscription"
)

// MessageKind is what a message is to the subscriptions, as a Router says.
type MessageKind uint8

// The kinds of messages a Router tells apart.
const (
	// Unclaimed: no subscription's; OnMessage handles it.
	Unclaimed MessageKind = iota
	// Data of the subscription Route.Key: counted, sequence-checked, and
	// handed to its Handler (or OnMessage without one).
	Data
	// Acked: the venue acknowledged the subscribe of Route.Key. It is
	// taken out of the stream.
	Acked
	// Refused: the venue refused the subscribe of Route.Key (a NACK). It
	// is taken out of the stream.
	Refused
)

// Route is what a Router says of a message: its kind, and the key of the
// subscription it belongs to.
type Route struct {
	Key  string
	Kind MessageKind
}

// Router routes every data message to its subscription by a key
// extracted from it: one map lookup per message, whatever the number of
// subscriptions, where an Ack matcher is tried per subscription awaiting
// an ack.
type Router struct {
	// Route says what m is. It is called by the connection's reader for
	// every data message (twice for those that come while a subscribe is
	// unanswered): it must be quick, and must not keep m.Data.
	Route func(m Message) Route
	// Acks says the venue acknowledges every subscribe: each subscription
	// is then Subscribing until Route says Acked or Refused (or its ack
	// timeout), as with an Ack matcher. Without it, a subscription with no
	// Ack matcher is Active once written.
	Acks bool
}

// WithRouter routes messages to subscriptions (see Router): a
// subscription's messages go to its Handler, are counted per key
// (SubscriptionStatus) and checked for sequence gaps; messages no
// subscription claims go to OnMessage.
func WithRouter(r Router) Option {
	return func(c *config) {
		if r.Route == nil {
			c.problems = append(c.problems, fmt.Errorf("Router: nil Route"))
			return
		}
		c.router = &r
	}
}

// SubscriptionStatus is a snapshot of one subscription.
type SubscriptionStatus struct {
	Key   string
	State subscription.State
	// Holders is how many Subscribe calls its Unsubscribes have not undone.
	Holders int
	// Err is why it failed (Failed), or why it went back to Pending; nil
	// otherwise.
	Err error
	SubscriptionStats
}

// SubscriptionStats are a subscription's counters; messages are counted
// only with a Router.
type SubscriptionStats struct {
	Messages    uint64    // data messages routed to it
	LastMessage time.Time // when the last one came; zero if none has
	Gaps        uint64    // sequence gaps seen
	Resyncs     uint64    // resyncs started
}

// subCounters are a subscription's counters, written by the reader.
type subCounters struct {
	messages atomic.Uint64
	last     atomic.Int64 // clock() of the last message; 0 if none
	gaps     atomic.Uint64
	resyncs  atomic.Uint64
}

func (k *subCounters) stats() SubscriptionStats {
	st := SubscriptionStats{Messages: k.messages.Load(), Gaps: k.gaps.Load(), Resyncs: k.resyncs.Load()}
	if t := k.last.Load(); t != 0 {
		st.LastMessage = start.Add(time.Duration(t))
	}
	return st
}

// SubscriptionStatus returns the subscription key's state and counters,
// and false if the key is not subscribed.
func (c *Client) SubscriptionStatus(key string) (SubscriptionStatus, bool) {
	c.subs.mu.Lock()
	s := c.subs.byKey[key]
	var holders int
	if s != nil {
		holders = s.refs
	}
	c.subs.mu.Unlock()
	if s == nil {
		return SubscriptionStatus{}, false
	}
	st := SubscriptionStatus{Key: key, State: s.m.State(), Holders: holders, SubscriptionStats: s.counters.stats()}
	if st.State == subscription.Failed || st.State == subscription.Pending {
		st.Err = s.failure()
	}
	return st, true
}

// route asks the router what m is; a router that panics claims nothing.
func (c *Client) route(m Message) (r Route) {
	defer func() {
		if recover() != nil {
			r = Route{}
		}
	}()
	return c.cfg.router.Route(m)
}

// handlerFor returns the handler of a data message read on ss: its
// subscription's, when the router names one that has a Handler, else
// OnMessage. The subscription's counters count it and its sequence is
// checked.
func (c *Client) handlerFor(ss *session, m Message) func(context.Context, Message) {
	h := c.cfg.onMessage
	if c.cfg.router == nil {
		return h
	}
	rt := c.route(m)
	if rt.Kind != Data {
		return h
	}
	c.subs.mu.Lock()
	s := c.subs.byKey[rt.Key]
	c.subs.mu.Unlock()
	if s == nil {
		return h
	}
	s.counters.messages.Add(1)
	s.counters.last.Store(int64(clock()))
	c.checkSequence(ss, s, m)
	if s.Handler != nil {
		return s.Handler
	}
	return h
}

// claimRouted takes m, read on ss, if the router says it answers a
// subscribe awaited there: an ack or a refusal is not data.
func (r *registry) claimRouted(c *Client, ss *session, m Message) bool {
	rt := c.route(m)
	if rt.Kind != Acked && rt.Kind != Refused {
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
	if rt.Kind == Acked {
		r.answered(s, subscription.Ack, nil)
	} else {
		r.answered(s, subscription.Nack, &SubscriptionError{Key: s.Key, Message: append([]byte(nil), m.Data...), Err: ErrSubscriptionRefused})
	}
	return true
}
