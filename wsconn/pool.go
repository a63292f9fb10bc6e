package wsconn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/connfsm/connfsm"
)

// ErrPoolFull is matched by the error of a Pool.Subscribe that finds every
// connection carrying PoolConfig.MaxPerConn subscriptions and
// PoolConfig.MaxConns connections open: the subscription is not made, and
// nothing else changes.
var ErrPoolFull = errors.New("wsconn: pool full")

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
	// waited for after any gate the options set (WithDialGate).
	DialBudget *DialBudget
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
// own and replays its own subscriptions on every new connection, as a
// lone Client does, while the others carry on. A subscription stays on
// the connection it was put on until it is unsubscribed.
//
// The options given to NewPool apply to every connection; their handlers
// (OnMessage, OnConnect, the observers) are shared by the connections and
// called from each concurrently, and a Limiter (WithRateLimit) paces all
// of them together. Subscriptions given with WithSubscriptions are the
// pool's first, sharded like those of Subscribe.
//
// The pool lives until Close, or until one of its connections ends on its
// own (it gave up: a permanent failure, or Backoff.MaxAttempts spent; its
// lifetime context ended): the pool then closes the others, and Err says
// which connection ended and why.
type Pool struct {
	url    string
	logURL string
	cfg    PoolConfig
	opts   []Option // NewPool's

	open sync.Mutex // held while a connection is opened, outside mu

	mu     sync.Mutex
	conns  []*poolConn
	byKey  map[string]*poolConn
	nsubs  int
	live   int  // connections not yet Closed
	ending bool // Close was called, or a connection ended on its own
	err    error
	done   chan struct{}
}

type poolConn struct {
	n    int
	c    *Client
	keys []string // its subscriptions, in order
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
func NewPool(ctx context.Context, rawURL string, cfg PoolConfig, opts ...Option) (*Pool, error) {
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
	c := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	u, err := c.check(rawURL)
	var ce *ConfigError
	if errors.As(err, &ce) {
		problems = append(problems, ce.Problems...)
	}
	var subs []Subscription
	for _, s := range c.subscriptions {
		if !slices.ContainsFunc(subs, func(t Subscription) bool { return t.Key == s.Key }) {
			subs = append(subs, s) // a duplicate key is kept once, as Dial keeps it
		}
	}
	if fit := int64(cfg.MaxPerConn) * int64(cfg.MaxConns); cfg.MaxPerConn > 0 && cfg.MaxConns > 0 && int64(len(subs)) > fit {
		problems = append(problems, fmt.Errorf("Subscriptions: %d do not fit %d connections of %d (PoolConfig.MaxConns, MaxPerConn)",
			len(subs), cfg.MaxConns, cfg.MaxPerConn))
	}
	if len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	p := &Pool{
		url: rawURL, logURL: redact(u), cfg: cfg, opts: slices.Clone(opts),
		byKey: make(map[string]*poolConn), done: make(chan struct{}),
	}
	for chunk := range slices.Chunk(subs, cfg.MaxPerConn) {
		if _, err := p.openConn(chunk); err != nil {
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
	n := len(p.conns)
	p.mu.Unlock()
	opts := slices.Clone(p.opts)
	if p.cfg.ConnOptions != nil {
		opts = append(opts, p.cfg.ConnOptions(n)...)
	}
	opts = append(opts, func(c *config) { c.subscriptions = nil }, NoWait())
	if len(subs) > 0 {
		opts = append(opts, WithSubscriptions(subs...))
	}
	if b := p.cfg.DialBudget; b != nil {
		opts = append(opts, func(c *config) { c.dialGate = chainGates(c.dialGate, b.Admit) })
	}
	// Dialled outside mu: Dial runs observers, which may ask the pool.
	c, err := Dial(context.Background(), p.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("wsconn: pool connection %d: %w", n, err)
	}
	pc := &poolConn{n: n, c: c}
	for _, s := range subs {
		pc.keys = append(pc.keys, s.Key)
	}
	p.mu.Lock()
	if p.ending {
		p.mu.Unlock()
		_ = c.Close(canceled(context.Background()))
		return nil, ErrClosed
	}
	p.conns = append(p.conns, pc)
	for _, k := range pc.keys {
		p.byKey[k] = pc
	}
	p.nsubs += len(pc.keys)
	p.live++
	p.mu.Unlock()
	go p.watch(pc)
	return pc, nil
}

// chainGates returns a gate that passes first, then second.
func chainGates(first, second DialGate) DialGate {
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

// watch waits for a connection to end. One that ends while the pool runs
// ends the pool; the last to end closes Done.
func (p *Pool) watch(pc *poolConn) {
	<-pc.c.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live--
	if !p.ending {
		p.end(fmt.Errorf("wsconn: pool connection %d ended: %w", pc.n, pc.c.Err()))
	}
	if p.live == 0 {
		close(p.done)
	}
}

// end starts closing every connection, for err; mu is held.
func (p *Pool) end(err error) {
	p.ending, p.err = true, err
	for _, pc := range p.conns {
		pc.c.requestClose(ErrClosed)
	}
}

// awaitReady waits until c is Ready, the pool ends, or ctx ends.
func (p *Pool) awaitReady(ctx context.Context, c *Client) error {
	// The pool ends only once c has: c's stop covers the pool's end.
	if err := c.m.Await(ctx, isReady); err != nil {
		if stopped(c.m) {
			<-p.done // it ended the pool
			return p.Err()
		}
		return fmt.Errorf("wsconn: pool %s: %w", p.logURL, err)
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
// ack leaves the subscription on its connection, which sends it again on
// its next connection.
//
// A key already subscribed sends nothing and returns nil. With MaxConns
// connections open and full, Subscribe fails with an error matching
// ErrPoolFull and naming the key. After Close, or once the pool has ended,
// it returns ErrClosed.
func (p *Pool) Subscribe(ctx context.Context, sub Subscription) error {
	if err := sub.check(); err != nil {
		return fmt.Errorf("wsconn: Pool.Subscribe: %w", err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	for {
		p.mu.Lock()
		switch {
		case p.ending:
			p.mu.Unlock()
			return ErrClosed
		case p.byKey[sub.Key] != nil:
			p.mu.Unlock()
			return nil
		}
		if pc := p.room(); pc != nil {
			if st := pc.c.m.State(); st == connfsm.Closing || st == connfsm.Closed {
				p.mu.Unlock()
				return ErrClosed // it ended on its own: so does the pool
			}
			pc.keys = append(pc.keys, sub.Key)
			p.byKey[sub.Key] = pc
			p.nsubs++
			p.mu.Unlock()
			return pc.c.Subscribe(ctx, sub)
		}
		if len(p.conns) >= p.cfg.MaxConns {
			p.mu.Unlock()
			return fmt.Errorf("%w: subscription %q: %d connections of %d subscriptions each, all full",
				ErrPoolFull, sub.Key, p.cfg.MaxConns, p.cfg.MaxPerConn)
		}
		p.mu.Unlock()
		// A new connection, opened empty: the next round puts sub on it,
		// unless a concurrent Subscribe opened one or took the room first.
		if _, err := p.openIfFull(); err != nil {
			return err
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

// room returns the first connection with room, or nil; mu is held.
func (p *Pool) room() *poolConn {
	for _, pc := range p.conns {
		if len(pc.keys) < p.cfg.MaxPerConn {
			return pc
		}
	}
	return nil
}

// Unsubscribe removes the subscription key from its connection, which
// sends its Unsubscribe message if it is Ready, as Client.Unsubscribe
// does. Its room goes to the next Subscribe; a connection left without
// subscriptions stays open. An unknown key is no error.
func (p *Pool) Unsubscribe(ctx context.Context, key string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	p.mu.Lock()
	pc := p.byKey[key]
	if pc == nil {
		p.mu.Unlock()
		return nil
	}
	delete(p.byKey, key)
	pc.keys = slices.DeleteFunc(pc.keys, func(k string) bool { return k == key })
	p.nsubs--
	p.mu.Unlock()
	return pc.c.Unsubscribe(ctx, key)
}

// Subscriptions returns the keys of the pool's subscriptions: those of its
// first connection in their order, then the second's, and so on.
func (p *Pool) Subscriptions() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, p.nsubs)
	for _, pc := range p.conns {
		keys = append(keys, pc.keys...)
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
	p.mu.Lock()
	if !p.ending {
		p.end(ErrClosed)
	}
	if p.live == 0 && !isClosed(p.done) {
		close(p.done) // no connection: no watcher to close it
	}
	conns := slices.Clone(p.conns)
	p.mu.Unlock()
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
	<-p.done
	return errors.Join(errs...)
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Done returns a channel closed once the pool has ended and every
// connection is Closed.
func (p *Pool) Done() <-chan struct{} { return p.done }

// Err returns nil while the pool runs; after Done is closed, why it ended:
// ErrClosed after Close, or an error naming the connection that ended on
// its own and wrapping its Err (a *GaveUpError, the lifetime's cause).
func (p *Pool) Err() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// PoolStats is a snapshot of a Pool.
type PoolStats struct {
	Conns         int // connections opened
	Ready         int // connections Ready now
	Subscriptions int
	// Stats sums the connections' counters; LastRTT and NextDelay are the
	// largest among them.
	Stats
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	st := PoolStats{Conns: len(p.conns), Subscriptions: p.nsubs}
	conns := slices.Clone(p.conns)
	p.mu.Unlock()
	for _, pc := range conns {
		if pc.c.Phase() == connfsm.Ready {
			st.Ready++
		}
		s := pc.c.Stats()
		st.Connects += s.Connects
		st.Reconnects += s.Reconnects
		st.MessagesIn += s.MessagesIn
		st.MessagesOut += s.MessagesOut
		st.BytesIn += s.BytesIn
		st.BytesOut += s.BytesOut
		st.Pings += s.Pings
		st.DeadPings += s.DeadPings
		st.Unsent += s.Unsent
		st.AnsweredPings += s.AnsweredPings
		st.LastRTT = max(st.LastRTT, s.LastRTT)
		st.NextDelay = max(st.NextDelay, s.NextDelay)
	}
	return st
}
