package session

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/enum"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/subscription"
)

// PoolState is a state of a Pool's own life.
type PoolState uint8

// A pool's states: PoolRunning, the initial; PoolEnding while its
// connections close; PoolEnded, final.
const (
	// PoolRunning: subscriptions are taken and placed; a connection that
	// gives up for good hands its subscriptions to the others.
	PoolRunning PoolState = iota
	// PoolEnding: Close was called (or the lifetime ended): every
	// connection is closing.
	PoolEnding
	// PoolEnded: every connection is Closed.
	PoolEnded
)

var poolStates = enum.NewList[PoolState]("PoolState(%d)", "Running", "Ending", "Ended")

// String returns the state's name, e.g. "Ending".
func (s PoolState) String() string { return poolStates.Name(s) }

// PoolEvent is an event of a Pool's own life.
type PoolEvent uint8

// A pool's events.
const (
	// PoolClose: Close was called, or a connection's lifetime ended; the
	// payload is the pool's Err.
	PoolClose PoolEvent = iota
	// PoolConnEnded: one connection reached Closed; the payload is its Err.
	PoolConnEnded
	// PoolDrained: no connection is left running.
	PoolDrained
)

var poolEvents = enum.NewList[PoolEvent]("PoolEvent(%d)", "Close", "ConnEnded", "Drained")

// String returns the event's name, e.g. "ConnEnded".
func (e PoolEvent) String() string { return poolEvents.Name(e) }

type poolRow fsm.Rule[PoolState, PoolEvent]

// poolTable is a pool's life: every rule with its reason. PoolEnded is
// final.
var poolTable = fsm.Rows([]poolRow{
	{PoolRunning, PoolClose, fsm.To(PoolEnding), "closed: close every connection, together"},
	{PoolRunning, PoolConnEnded, fsm.Ignore[PoolState](), "a connection gave up for good: its subscriptions move to the others, and the pool runs on"},
	{PoolRunning, PoolDrained, fsm.Ignore[PoolState](), "every connection gave up: the subscriptions wait Pending for a connection a Subscribe opens, or Close"},
	{PoolEnding, PoolClose, fsm.Ignore[PoolState](), "already ending: Close is idempotent"},
	{PoolEnding, PoolConnEnded, fsm.Ignore[PoolState](), "one of the connections being closed"},
	{PoolEnding, PoolDrained, fsm.To(PoolEnded), "every connection is Closed"},
})

// poolLife is every pool's machine: built once, shared. Entering
// PoolEnding closes the connections (its payload is the pool's Err), and
// its drain task emits PoolDrained once they are all Closed and their
// watchers have returned.
var poolLife = sync.OnceValue(func() *fsm.Definition[PoolState, PoolEvent] {
	return fsm.NewBuilder[PoolState, PoolEvent](PoolRunning).
		States(poolStates.Values()...).
		Events(poolEvents.Values()...).
		Final(PoolEnded).
		Rules(poolTable...).
		OnEnter(PoolEnding, func(_ context.Context, t fsm.Transition[PoolState, PoolEvent]) {
			if p, ok := t.Env.(*Pool); ok { // none in PoolDefinition's tests
				p.ending(t.Payload)
			}
		}).
		Task(PoolEnding, "drain", func(ctx context.Context, in fsm.Transition[PoolState, PoolEvent], emit fsm.Emit[PoolEvent]) error {
			if p, ok := in.Env.(*Pool); ok {
				return p.drainTask(ctx, emit)
			}
			<-ctx.Done() // PoolDefinition's: the shape, for diagrams and tests
			return nil
		}).
		MustBuild()
})

// PoolDefinition returns a pool's own life as declared, for diagrams and
// tests.
func PoolDefinition() *fsm.Definition[PoolState, PoolEvent] { return poolLife() }

// drainTask is PoolEnding's task: it waits until every connection is
// Closed (closing any that PoolEnding's enter hook could not know of, and
// waiting for one being opened) and every watcher has returned, then
// emits PoolDrained: nothing of the pool runs once it is Ended.
func (p *Pool) drainTask(ctx context.Context, emit fsm.Emit[PoolEvent]) error {
	for _, pc := range p.snapshot() {
		pc.c.requestClose(ErrClosed) // idempotent: the hook asked already
		select {
		case <-pc.c.Done():
		case <-ctx.Done():
			return nil
		}
	}
	p.opening.Wait() // a connection being opened: its opener closes it
	p.watchers.Wait()
	emit(PoolDrained, nil)
	return nil
}

// holding is a subscription with its holders, as it moves between
// connections.
type holding struct {
	Subscription
	refs int
}

// holdings returns c's subscriptions still held, in order.
func (c *Client) holdings() []holding {
	c.reg().mu.Lock()
	defer c.reg().mu.Unlock()
	var out []holding
	for _, s := range c.reg().order {
		if s.refs > 0 {
			out = append(out, holding{s.Subscription, s.refs})
		}
	}
	return out
}

// holds reports whether c's subscription key has holders.
func (c *Client) holds(key string) bool {
	c.reg().mu.Lock()
	defer c.reg().mu.Unlock()
	s := c.reg().byKey[key]
	return s != nil && s.refs > 0
}

// subscribeOn subscribes sub on pc, then indexes the key there again if
// an Unsubscribe of its last holder dropped it from the index meanwhile
// (between this Subscribe's look at the index and its holder's coming).
func (p *Pool) subscribeOn(ctx context.Context, pc *poolConn, sub Subscription) error {
	err := pc.c.Subscribe(ctx, sub)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byKey[sub.Key] == nil && p.m.State() == PoolRunning && slices.Contains(p.conns, pc) && pc.c.holds(sub.Key) {
		p.byKey[sub.Key] = pc
		pc.held++
	}
	return err
}

// adopt takes hs, moved from a connection that gave up: registered with
// their holders, and sent at once if c is Ready (a sync under way sends
// them; a connection to come replays them).
func (c *Client) adopt(hs []holding) {
	var added []*subscribed
	for _, h := range hs {
		s, isNew := c.holdStarted(h.Subscription)
		c.reg().mu.Lock()
		s.refs += h.refs - 1
		c.reg().mu.Unlock()
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
// counted (PoolStats.Pending) and observed. A connection that gave up
// before it ever stayed connected for the stable period gets no new one in
// its place: the venue refused or dropped it, and would do so to the next
// at once, and the next, in a loop without a pause.
func (p *Pool) rehome(gone *poolConn) {
	connected := gone.c.stable.Load()
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
	p.placeParked(connected)
	p.mu.Lock()
	var left []string
	for _, s := range p.parked {
		if slices.ContainsFunc(hs, func(h holding) bool { return h.Key == s.Key }) {
			left = append(left, s.Key)
		}
	}
	p.mu.Unlock()
	cause := fmt.Errorf("%w: connection %d gave up (%w), and no connection has room", ErrPoolFull, gone.n, gone.c.Err())
	if !connected {
		cause = fmt.Errorf("session: pool connection %d gave up before it stayed connected (%w): its subscriptions wait for a connection with room", gone.n, gone.c.Err())
	}
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
// with room, then, if openNew, on new connections within MaxConns.
func (p *Pool) placeParked(openNew bool) {
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
		} else if !openNew || len(p.conns) >= p.cfg.MaxConns {
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
// options' observer: a RecordSubscription whose subscription.Record has
// Kind fsm.RecordStarted, Pending, and the cause. A panic of the
// observer's is recovered and logged, as on a connection's records: it
// would end the pool's goroutine that called it, and the process.
func (p *Pool) observeParked(key string, cause error) {
	if p.onRecord == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil && p.logger != nil {
			p.logger.LogAttrs(context.Background(), slog.LevelError, "session: OnRecord observer panicked",
				slog.String("url", p.name), slog.String("record", RecordSubscription.String()), slog.Any("panic", v))
		}
	}()
	sr := &subscription.Record{Key: key, Kind: fsm.RecordStarted, From: subscription.Pending, To: subscription.Pending, Cause: cause}
	p.onRecord(context.Background(), record{Kind: RecordSubscription, When: time.Now(), Payload: sr, Err: cause})
}

// uniqueKeys returns subs with each key kept once, at its first place,
// as Dial keeps a duplicate: in linear time, for a pool of a million.
func uniqueKeys(subs []Subscription) []Subscription {
	seen := make(map[string]struct{}, len(subs))
	out := make([]Subscription, 0, len(subs))
	for _, s := range subs {
		if _, dup := seen[s.Key]; !dup {
			seen[s.Key] = struct{}{}
			out = append(out, s)
		}
	}
	return out
}

// withHolders returns subs, of distinct keys, followed by each key's
// further holders (holders counts them all): a connection's Dial takes a
// key given again as one more holder.
func withHolders(subs []Subscription, holders map[string]int) []Subscription {
	out := slices.Clone(subs)
	for _, s := range subs {
		for range holders[s.Key] - 1 {
			out = append(out, s)
		}
	}
	return out
}

// chainGates returns a gate that passes first, then second.
func chainGates(first, second retry.DialGate) retry.DialGate {
	if first == nil {
		return second
	}
	return func(ctx context.Context) (func(bool), error) {
		done1, err := first(ctx)
		if err != nil {
			return nil, err
		}
		done2, err := second(ctx)
		if err != nil {
			if done1 != nil {
				done1(false)
			}
			return nil, err
		}
		return func(reached bool) {
			if done2 != nil {
				done2(reached)
			}
			if done1 != nil {
				done1(reached)
			}
		}, nil
	}
}

// PoolStats is a snapshot of a Pool.
type PoolStats struct {
	Conns         int // connections open (not given up)
	Ready         int // connections Ready now
	Subscriptions int // keys held, on connections or Pending in the pool
	// Pending counts the subscriptions no connection could take when
	// theirs gave up (within MaxConns and MaxPerConn): they wait in the
	// pool for room.
	Pending int
	// Moved counts the subscriptions moved from a connection that gave up
	// to another.
	Moved uint64
	// Stats sums the connections' counters; LastRTT, NextDelay, LastLag
	// and MaxLag are the largest among them.
	Stats
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	st := PoolStats{Conns: len(p.conns), Subscriptions: len(p.byKey) + len(p.parked), Pending: len(p.parked), Moved: p.moved}
	conns := slices.Clone(p.conns)
	p.mu.Unlock()
	for _, pc := range conns {
		if pc.c.Phase() == connfsm.Ready {
			st.Ready++
		}
		st.Stats.add(pc.c.Stats())
	}
	return st
}

// add adds o's counters to s's, and keeps the larger of each duration.
func (s *Stats) add(o Stats) {
	s.Connects += o.Connects
	s.Reconnects += o.Reconnects
	s.MessagesIn += o.MessagesIn
	s.MessagesOut += o.MessagesOut
	s.BytesIn += o.BytesIn
	s.BytesOut += o.BytesOut
	s.Pings += o.Pings
	s.LastRTT = max(s.LastRTT, o.LastRTT)
	s.DeadPings += o.DeadPings
	s.Unsent += o.Unsent
	s.NextDelay = max(s.NextDelay, o.NextDelay)
	s.AnsweredPings += o.AnsweredPings
	s.PingsSkipped += o.PingsSkipped
	s.PongWaitsExtended += o.PongWaitsExtended
	s.LateReads += o.LateReads
	s.Buffered += o.Buffered
	s.Dropped += o.Dropped
	s.TooBig += o.TooBig
	s.SlowDropped += o.SlowDropped
	s.Conflated += o.Conflated
	s.SlowDisconnects += o.SlowDisconnects
	s.LastLag = max(s.LastLag, o.LastLag)
	s.MaxLag = max(s.MaxLag, o.MaxLag)
	s.Undecoded += o.Undecoded
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
