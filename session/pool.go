package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
)

// PoolConfig says how a Pool shards its subscriptions and how its
// connections dial.
type PoolConfig struct {
	// MaxPerConn is the most subscriptions one connection carries: the
	// venue's limit of streams per connection (Binance: 1024). It must be
	// positive.
	MaxPerConn int
	// MaxConns is the most connections the pool opens. It must be
	// positive. A subscription that finds every connection full at
	// MaxConns is refused with ErrPoolFull, never dropped.
	MaxConns int
	// DialBudget, if not nil, gates every dial of every connection of the
	// pool, first dials and redials alike: the venue's limit of
	// connections per IP per window. It may be shared with other pools
	// and clients that dial the same venue from the same address. It is
	// waited for after any gate the options set (WithDialGate). Make it
	// with retry.NewDialBudget: NewPool refuses a zero DialBudget.
	DialBudget *retry.DialBudget
	// ConnOptions, if not nil, returns options for the pool's n-th
	// connection (from 0), applied after those given to NewPool: a rate
	// limiter of its own (venues limit messages per connection, and a
	// Limiter given to NewPool is shared by every connection), an
	// observer that knows which connection it observes.
	ConnOptions func(n int) []Option
}

// Pool is many connections to one venue as one object: its subscriptions
// are sharded over connections of at most PoolConfig.MaxPerConn
// subscriptions each, up to PoolConfig.MaxConns connections, and every dial
// of every connection shares one budget (PoolConfig.DialBudget). Its
// methods are safe for concurrent use.
//
// Each connection is a Client with its own lifecycle: it reconnects on its
// own and replays its own subscriptions (each a machine, as a lone
// Client's) on every new connection, while the others carry on. A
// subscription stays on the connection it was put on until it is
// unsubscribed, or that connection gives up for good: then it moves to
// another connection with room, or to a new one (within MaxConns and the
// dial budget), or, if neither can take it, waits Pending in the pool
// (PoolStats.Pending), observed as a RecordSubscription, until a
// connection has room. A connection that gave up without ever staying
// connected for the stable period (WithStablePeriod), refused or dropped
// at once by the venue, gets no new one in its place, as the venue would
// treat that one the same: its subscriptions wait Pending unless a
// connection has room, and a connection the next Subscribe opens takes
// them before the new subscription.
//
// The options given to NewPool apply to every connection; their handlers
// (OnMessage, OnConnect, the observers) are shared by the connections and
// called from each concurrently, and a Limiter (WithRateLimit) paces all
// of them together. Subscriptions given with WithSubscriptions are the
// pool's first, sharded like those of Subscribe.
//
// The pool's own life is a declared machine (PoolDefinition): Running
// until Close, or until a connection's lifetime context ends (WithLifetime):
// then Ending, which closes every connection, and Ended once all are
// Closed and the goroutines watching them have returned. A connection
// that gives up (a permanent failure, or Backoff.MaxAttempts spent) does
// not end the pool.
type Pool struct {
	tr   func() transport.Transport // makes each connection's transport
	name string                     // the server, as logs show it
	cfg  PoolConfig
	opts []Option // NewPool's

	m        *fsm.Machine[PoolState, PoolEvent] // the pool's own life
	onRecord func(context.Context, record)      // the options' observer, for subscriptions no connection holds
	logger   *slog.Logger                       // the options' logger, for that observer's panics

	open sync.Mutex // held while a connection is opened, outside mu
	// watchers are the goroutines that wait for a connection to end
	// (watch), one per connection; PoolEnding's drain task joins them
	// before the pool is Ended.
	watchers sync.WaitGroup
	// opening counts the openConn calls under way (drainTask waits for them).
	opening sync.WaitGroup

	mu     sync.Mutex
	conns  []*poolConn          // the connections not given up, in the order opened
	opened int                  // connections opened so far, to number the next
	byKey  map[string]*poolConn // which connection holds a key: an index, the subscriptions are the clients'
	parked []Subscription       // subscriptions no connection could take: Pending
	refs   map[string]int       // the holders of those parked
	moved  uint64               // subscriptions moved off connections that gave up
	err    error                // why it ends: PoolEnding's payload
}

type poolConn struct {
	n    int
	c    *Client
	held int // keys byKey puts on it
}

// NewPool checks cfg, the options and the URL as Dial does (any problem: a
// *ConfigError naming each, matching ErrInvalidConfig, and nothing is
// started), then opens the connections the subscriptions given with
// WithSubscriptions need, and none if there are none: Subscribe opens them
// as needed.
//
// Unless NoWait is given, NewPool then waits until every connection it
// opened is Ready (its subscriptions replayed), as Dial waits for its
// client. ctx bounds only this wait: if it ends first, the pool is closed
// and NewPool returns ctx's cause; if a connection gives up first, the
// pool is closed and NewPool returns why. Once NewPool has returned, ctx
// has no effect on the pool (WithLifetime ties every connection's life to
// a context).
func NewPool(ctx context.Context, newTransport func() transport.Transport, cfg PoolConfig, opts ...Option) (*Pool, error) {
	var problems []error
	if ctx == nil {
		problems = append(problems, errors.New("NewPool: nil Context"))
	}
	if cfg.MaxPerConn <= 0 {
		problems = append(problems, fmt.Errorf("PoolConfig.MaxPerConn must be positive, got %d", cfg.MaxPerConn))
	}
	if cfg.MaxConns <= 0 {
		problems = append(problems, fmt.Errorf("PoolConfig.MaxConns must be positive, got %d", cfg.MaxConns))
	}
	if b := cfg.DialBudget; b != nil && b.Dials() <= 0 {
		problems = append(problems, errors.New("PoolConfig.DialBudget: not made by retry.NewDialBudget"))
	}
	var tr transport.Transport
	if newTransport == nil {
		problems = append(problems, errors.New("NewPool: nil transport func"))
	} else {
		tr = newTransport()
	}
	c := newConfig(tr, opts)
	err := c.check()
	var ce *transport.ConfigError
	if errors.As(err, &ce) {
		problems = append(problems, ce.Problems...)
	}
	subs := uniqueKeys(c.subscriptions)
	if fit := int64(cfg.MaxPerConn) * int64(cfg.MaxConns); cfg.MaxPerConn > 0 && cfg.MaxConns > 0 && int64(len(subs)) > fit {
		problems = append(problems, fmt.Errorf("Subscriptions: %d do not fit %d connections of %d (PoolConfig.MaxConns, MaxPerConn)",
			len(subs), cfg.MaxConns, cfg.MaxPerConn))
	}
	if len(problems) > 0 {
		return nil, &transport.ConfigError{Problems: problems}
	}
	p := &Pool{
		tr: newTransport, name: tr.String(), cfg: cfg, opts: slices.Clone(opts),
		byKey: make(map[string]*poolConn), onRecord: c.onRecord, logger: c.logger,
	}
	p.m = poolLife().Start(context.Background(), fsm.Config[PoolState, PoolEvent]{Env: p})
	holders := make(map[string]int, len(subs))
	for _, s := range c.subscriptions {
		holders[s.Key]++
	}
	for chunk := range slices.Chunk(subs, cfg.MaxPerConn) {
		if _, err := p.openConn(withHolders(chunk, holders)); err != nil {
			_ = p.Close(canceled(context.Background()))
			return nil, err
		}
	}
	if c.noWait {
		return p, nil
	}
	for _, pc := range p.snapshot() {
		if err := p.awaitReady(ctx, pc.c); err != nil {
			_ = p.Close(canceled(ctx))
			return nil, err
		}
	}
	return p, nil
}

// openConn opens the pool's next connection with subs as its first
// subscriptions, and adds it. It returns ErrClosed, after closing the
// connection, if the pool started ending meanwhile.
func (p *Pool) openConn(subs []Subscription) (*poolConn, error) {
	p.open.Lock()
	defer p.open.Unlock()
	p.mu.Lock()
	if p.m.State() != PoolRunning {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.opening.Add(1)
	defer p.opening.Done()
	n := p.opened
	p.opened++
	p.mu.Unlock()
	// The pool's subscriptions are sharded: skipped here, not copied for
	// each connection and dropped.
	opts := append([]Option{func(c *config) { c.poolConn = true }}, p.opts...)
	if p.cfg.ConnOptions != nil {
		opts = append(opts, p.cfg.ConnOptions(n)...)
	}
	opts = append(opts, func(c *config) { c.poolConn, c.subscriptions = false, slices.Clone(subs) }, NoWait())
	if b := p.cfg.DialBudget; b != nil {
		opts = append(opts, func(c *config) { c.dialGate = chainGates(c.dialGate, b.Admit) })
	}
	// Dialled outside mu: Dial runs observers, which may ask the pool.
	c, err := Dial(context.Background(), p.tr(), opts...)
	if err != nil {
		return nil, fmt.Errorf("session: pool connection %d: %w", n, err)
	}
	pc := &poolConn{n: n, c: c}
	p.mu.Lock()
	if p.m.State() != PoolRunning {
		p.mu.Unlock()
		_ = c.Close(canceled(context.Background()))
		return nil, ErrClosed
	}
	p.conns = append(p.conns, pc)
	for _, s := range subs {
		if p.byKey[s.Key] == nil {
			p.byKey[s.Key] = pc
			pc.held++
		}
	}
	// Added under mu while Running: PoolEnding's enter hook takes mu,
	// and its drain task, which joins the watchers, starts after it.
	p.watchers.Go(func() { p.watch(pc) })
	p.mu.Unlock()
	return pc, nil
}

// watch waits for a connection to end: a client is a machine of its own,
// whose end no state of the pool's can await for a set of connections
// that grows, so each has a goroutine, joined by PoolEnding's drain task.
// One that gave up while the pool runs hands its subscriptions to the
// others (rehome); one whose lifetime ended ends the pool.
func (p *Pool) watch(pc *poolConn) {
	<-pc.c.Done()
	err := pc.c.Err()
	_ = p.m.FireWith(context.Background(), PoolConnEnded, err)
	var gu *GaveUpError
	switch {
	case p.m.State() == PoolRunning && errors.As(err, &gu):
		p.rehome(pc)
	case p.m.State() == PoolRunning && !errors.Is(err, ErrClosed):
		_ = p.m.FireWith(context.Background(), PoolClose, fmt.Errorf("session: pool connection %d ended: %w", pc.n, err))
	}
}

// ending is PoolEnding's enter hook: it keeps why the pool ends and
// starts closing every connection.
func (p *Pool) ending(cause any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err, _ = cause.(error)
	if p.err == nil {
		p.err = ErrClosed
	}
	for _, pc := range p.conns {
		pc.c.requestClose(ErrClosed)
	}
}

// awaitReady waits until c is Ready, the pool ends, or ctx ends.
func (p *Pool) awaitReady(ctx context.Context, c *Client) error {
	// The pool ends only once c has: c's stop covers the pool's end.
	if err := c.m.Await(ctx, isReady); err != nil {
		if stopped(c.m) {
			if err := c.Err(); err != nil && !errors.Is(err, ErrClosed) {
				return fmt.Errorf("session: pool %s: a connection ended before Ready: %w", p.name, err)
			}
			return ErrClosed
		}
		return fmt.Errorf("session: pool %s: %w", p.name, err)
	}
	return nil
}

func (p *Pool) snapshot() []*poolConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.conns)
}

// Subscribe puts sub on the first connection with room (fewer than
// MaxPerConn subscriptions), in the order they were opened, or on a new
// connection if every one is full; the connection then subscribes as
// Client.Subscribe does: at once if it is Ready (bounded by ctx, the ack
// awaited if sub has an Ack), after the connection's sync if it is
// Syncing, and on its next connection if it is Connecting or Reconnecting,
// which is how a new connection takes it. An error from the send or the
// ack leaves the subscription on its connection, holding its room, and it
// is sent again as a Client's would be (see Subscription.Retry).
//
// A key already held adds a holder and sends nothing, unless it had
// failed: then it is sent again. With MaxConns connections open and full,
// Subscribe fails with an error matching ErrPoolFull and naming the key.
// After Close, or once the pool has ended, it returns ErrClosed.
func (p *Pool) Subscribe(ctx context.Context, sub Subscription) error {
	if err := sub.check(); err != nil {
		return fmt.Errorf("session: Pool.Subscribe: %w", err)
	}
	if ctx == nil {
		return errNilContext("Pool.Subscribe")
	}
	for {
		p.mu.Lock()
		if p.m.State() != PoolRunning {
			p.mu.Unlock()
			return ErrClosed
		}
		if pc := p.byKey[sub.Key]; pc != nil {
			p.mu.Unlock()
			return p.subscribeOn(ctx, pc, sub) // one more holder
		}
		if pc := p.room(); pc != nil {
			if err := sub.checkOn(pc.c.tr); err != nil {
				p.mu.Unlock() // refused before it takes room
				return fmt.Errorf("session: Pool.Subscribe: %w", err)
			}
			p.byKey[sub.Key] = pc
			pc.held++
			p.mu.Unlock()
			return p.subscribeOn(ctx, pc, sub)
		}
		if len(p.conns) >= p.cfg.MaxConns {
			p.mu.Unlock()
			return fmt.Errorf("%w: subscription %q: %d connections of %d subscriptions each, all full",
				ErrPoolFull, sub.Key, p.cfg.MaxConns, p.cfg.MaxPerConn)
		}
		p.mu.Unlock()
		// A new connection, opened empty: the next round puts sub on it,
		// unless a concurrent Subscribe opened one or took the room first.
		pc, err := p.openIfFull()
		if err != nil {
			return err
		}
		if pc != nil {
			p.placeParked(false) // those waiting in the pool go first
		}
	}
}

// openIfFull opens a connection unless one has room by the time the
// opening is its turn, or the pool is at MaxConns.
func (p *Pool) openIfFull() (*poolConn, error) {
	p.open.Lock()
	p.mu.Lock()
	full := p.room() == nil && len(p.conns) < p.cfg.MaxConns
	p.mu.Unlock()
	p.open.Unlock()
	if !full {
		return nil, nil
	}
	return p.openConn(nil)
}

// room returns the first connection with room that has not ended, or
// nil; mu is held.
func (p *Pool) room() *poolConn {
	for _, pc := range p.conns {
		if pc.held < p.cfg.MaxPerConn && !isClosed(pc.c.Done()) {
			return pc
		}
	}
	return nil
}

// Unsubscribe drops a holder of key on its connection, as
// Client.Unsubscribe does; once its last holder is gone, its room goes to
// the next Subscribe (or a subscription waiting Pending in the pool); a
// connection left without subscriptions stays open. An unknown key is no
// error.
func (p *Pool) Unsubscribe(ctx context.Context, key string) error {
	if ctx == nil {
		return errNilContext("Pool.Unsubscribe")
	}
	p.mu.Lock()
	if i := slices.IndexFunc(p.parked, func(s Subscription) bool { return s.Key == key }); i >= 0 {
		if p.refs[key]--; p.refs[key] <= 0 { // its last holder
			delete(p.refs, key)
			p.parked = slices.Delete(p.parked, i, i+1)
		}
		p.mu.Unlock()
		return nil
	}
	pc := p.byKey[key]
	p.mu.Unlock()
	if pc == nil {
		return nil
	}
	err := pc.c.Unsubscribe(ctx, key)
	p.mu.Lock()
	gone := p.byKey[key] == pc && !pc.c.holds(key) // or held again meanwhile
	if gone {
		delete(p.byKey, key)
		pc.held--
	}
	p.mu.Unlock()
	if gone {
		p.placeParked(true)
	}
	return err
}

// Subscriptions returns the keys of the pool's subscriptions: those of its
// first connection in their order, then the second's, and so on, then
// those waiting Pending in the pool.
func (p *Pool) Subscriptions() []string {
	var keys []string
	for _, c := range p.Conns() {
		keys = append(keys, c.Subscriptions()...)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.parked {
		keys = append(keys, s.Key)
	}
	return keys
}

// Conns returns the pool's connections, in the order they were opened:
// to send on one, or ask one its state.
func (p *Pool) Conns() []*Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Client, len(p.conns))
	for i, pc := range p.conns {
		out[i] = pc.c
	}
	return out
}

// Conn returns the connection the subscription key is on, if it is
// subscribed: to Request a snapshot of that stream there, for instance.
func (p *Pool) Conn(key string) (*Client, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc := p.byKey[key]; pc != nil {
		return pc.c, true
	}
	return nil, false
}

// Close closes every connection, at once and together, each as
// Client.Close does, bounded by ctx: it returns once every connection is
// Closed, with the connections' Close errors joined (ErrUnsent, or ctx's
// cause if it ended first). Close is idempotent and safe from any
// goroutine; called with the context of a handler of one of the pool's
// connections, it starts the close and returns at once.
func (p *Pool) Close(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	_ = p.m.FireWith(context.Background(), PoolClose, ErrClosed)
	conns := p.snapshot()
	for _, pc := range conns {
		if pc.c.m.Inside(ctx) {
			return nil
		}
	}
	var errs []error
	for _, pc := range conns {
		if err := pc.c.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("connection %d: %w", pc.n, err))
		}
	}
	select {
	case <-p.m.Done():
	case <-ctx.Done():
		errs = append(errs, context.Cause(ctx))
	}
	return errors.Join(errs...)
}

// Done returns a channel closed once the pool has ended (PoolEnded):
// every connection is Closed, and no goroutine of the pool runs.
func (p *Pool) Done() <-chan struct{} { return p.m.Done() }

// State returns the pool's own state: PoolRunning, PoolEnding or
// PoolEnded.
func (p *Pool) State() PoolState { return p.m.State() }

// Err returns nil while the pool runs; after Done is closed, why it ended:
// ErrClosed after Close, or an error naming the connection whose lifetime
// ended and wrapping its Err.
func (p *Pool) Err() error {
	if !isClosed(p.m.Done()) {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
