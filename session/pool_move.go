package session

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/subscription"
)

// holding is a subscription with its holders, as it moves between
// connections.
type holding struct {
	Subscription
	refs int
}

// holdings returns c's subscriptions still held, in order.
func (c *Client) holdings() []holding {
	c.subs.mu.Lock()
	defer c.subs.mu.Unlock()
	var out []holding
	for _, s := range c.subs.order {
		if s.refs > 0 {
			out = append(out, holding{s.Subscription, s.refs})
		}
	}
	return out
}

// adopt takes hs, moved from a connection that gave up: registered with
// their holders, and sent at once if c is Ready (a sync under way sends
// them; a connection to come replays them).
func (c *Client) adopt(hs []holding) {
	var added []*subscribed
	for _, h := range hs {
		s, isNew := c.holdStarted(h.Subscription)
		c.subs.mu.Lock()
		s.refs += h.refs - 1
		c.subs.mu.Unlock()
		if isNew {
			added = append(added, s)
		}
	}
	if c.m.State() != connfsm.Ready {
		return
	}
	ss := c.sess.Load()
	if ss == nil {
		return
	}
	ctx, cancel := c.untilClosing(context.Background())
	defer cancel()
	for _, s := range added {
		if c.sendSubscription(ctx, ss, s) != nil {
			return // the connection failed: the next one replays the rest
		}
	}
}

// rehome moves the subscriptions of gone, which gave up for good, to the
// other connections with room, or to new ones within MaxConns (their dials
// wait for the budget); those that fit nowhere wait Pending in the pool,
// counted (PoolStats.Pending) and observed.
func (p *Pool) rehome(gone *poolConn) {
	hs := gone.c.holdings()
	p.mu.Lock()
	p.conns = slices.DeleteFunc(p.conns, func(pc *poolConn) bool { return pc == gone })
	for k, pc := range p.byKey {
		if pc == gone {
			delete(p.byKey, k)
		}
	}
	for _, h := range hs {
		p.parked = append(p.parked, h.Subscription)
		p.parkedRefs(h.Key, h.refs)
	}
	p.mu.Unlock()
	p.placeParked()
	p.mu.Lock()
	var left []string
	for _, s := range p.parked {
		if slices.ContainsFunc(hs, func(h holding) bool { return h.Key == s.Key }) {
			left = append(left, s.Key)
		}
	}
	p.mu.Unlock()
	cause := fmt.Errorf("%w: connection %d gave up (%w), and no connection has room", ErrPoolFull, gone.n, gone.c.Err())
	for _, k := range left {
		p.observeParked(k, cause)
	}
}

// parkedRefs keeps the holders of a parked key; mu is held.
func (p *Pool) parkedRefs(key string, refs int) {
	if p.refs == nil {
		p.refs = make(map[string]int)
	}
	p.refs[key] = refs
}

// placeParked puts the subscriptions waiting in the pool on connections
// with room, then on new connections within MaxConns.
func (p *Pool) placeParked() {
	for {
		p.mu.Lock()
		if p.m.State() != PoolRunning || len(p.parked) == 0 {
			p.mu.Unlock()
			return
		}
		pc := p.room()
		n := p.cfg.MaxPerConn
		if pc != nil {
			n -= pc.held
		} else if len(p.conns) >= p.cfg.MaxConns {
			p.mu.Unlock()
			return
		}
		n = min(n, len(p.parked))
		batch := make([]holding, n)
		for i, s := range p.parked[:n] {
			batch[i] = holding{s, max(p.refs[s.Key], 1)}
			delete(p.refs, s.Key)
			if pc != nil {
				p.byKey[s.Key] = pc
				pc.held++
			}
		}
		p.parked = slices.Delete(p.parked, 0, n)
		p.moved += uint64(n)
		p.mu.Unlock()
		if pc != nil {
			pc.c.adopt(batch)
			continue
		}
		subs := make([]Subscription, n)
		for i, h := range batch {
			subs[i] = h.Subscription
		}
		npc, err := p.openConn(subs)
		if err != nil {
			p.mu.Lock()
			for _, h := range batch {
				p.parked = append(p.parked, h.Subscription)
				p.parkedRefs(h.Key, h.refs)
			}
			p.moved -= uint64(n)
			p.mu.Unlock()
			return
		}
		for _, h := range batch {
			if h.refs > 1 {
				npc.c.adopt([]holding{{h.Subscription, h.refs - 1}})
			}
		}
	}
}

// observeParked reports a subscription waiting in the pool to the
// options' observer: a RecordSubscription whose SubscriptionRecord has
// Kind fsm.RecordStarted, Pending, and the cause.
func (p *Pool) observeParked(key string, cause error) {
	if p.onRecord == nil {
		return
	}
	sr := &SubscriptionRecord{Key: key, Kind: fsm.RecordStarted, From: subscription.Pending, To: subscription.Pending, Cause: cause}
	p.onRecord(context.Background(), record{Kind: RecordSubscription, When: time.Now(), Payload: sr, Err: cause})
}
