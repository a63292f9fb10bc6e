package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// poolTest starts a pool on srv that does not wait for its connections,
// closed when the test ends.
func poolTest(t *testing.T, srv *wsconntest.Server, cfg PoolConfig, opts ...Option) *Pool {
	t.Helper()
	base := []Option{WithHTTPClient(srv.Client()), NoWait(), withRand(fixedRnd(0.5)),
		WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1})}
	p, err := newPoolWS(t.Context(), "ws://feed.test/", cfg, append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// connHeader names each connection of a pool in its handshake, for the
// venue (X-Conn: n): the connections dial together, in any order.
func connHeader(n int) []Option {
	return []Option{WithHeader(http.Header{"X-Conn": {fmt.Sprint(n)}})}
}

// venueConn returns the venue's record of the pool's connection n, the
// last one it made.
func venueConn(srv *wsconntest.Server, n int) (wsconntest.Connection, bool) {
	var found wsconntest.Connection
	ok := false
	for _, c := range srv.Connections() {
		if c.Header.Get("X-Conn") == fmt.Sprint(n) {
			found, ok = c, true
		}
	}
	return found, ok
}

func keys(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint("k", i))
	}
	return out
}

// venueSubs returns, for each connection open at the venue, in the order
// they were made, the keys subscribed on it ("sub:K", less "unsub:K").
func venueSubs(srv *wsconntest.Server) [][]string {
	var out [][]string
	for _, c := range srv.Connections() {
		if !c.Open() {
			continue
		}
		keys := []string{}
		for _, m := range c.ReceivedText() {
			if k, ok := strings.CutPrefix(m, "sub:"); ok {
				keys = append(keys, k)
			}
			if k, ok := strings.CutPrefix(m, "unsub:"); ok {
				keys = slices.DeleteFunc(keys, func(s string) bool { return s == k })
			}
		}
		out = append(out, keys)
	}
	return out
}

// poolShards returns the subscriptions of each of p's connections, as
// each connection's registry has them.
func poolShards(p *Pool) [][]string {
	var out [][]string
	for _, c := range p.Conns() {
		out = append(out, c.Subscriptions())
	}
	return out
}

// sortedShards sorts each shard and the shards, to compare placements
// whatever order the connections came back in.
func sortedShards(shards [][]string) [][]string {
	out := make([][]string, len(shards))
	for i, s := range shards {
		out[i] = slices.Sorted(slices.Values(s))
	}
	slices.SortFunc(out, func(a, b []string) int { return slices.Compare(a, b) })
	return out
}

// TestPoolShards: subscriptions fill the first connection with room, a new
// connection opens when all are full, and beyond MaxConns a subscription
// is refused with ErrPoolFull and nothing changes; those given to NewPool
// are sharded alike.
func TestPoolShards(t *testing.T) {
	tests := []struct {
		name          string
		initial, more int // subscriptions given to NewPool, then to Subscribe
		shards        [][]string
		full          []string // refused with ErrPoolFull
	}{
		{"under the cap", 0, 2, [][]string{{"k0", "k1"}}, nil},
		{"a new connection when full", 0, 7, [][]string{keys(0, 3), keys(3, 6), {"k6"}}, nil},
		{"exactly full", 0, 9, [][]string{keys(0, 3), keys(3, 6), keys(6, 9)}, nil},
		{"beyond MaxConns", 0, 11, [][]string{keys(0, 3), keys(3, 6), keys(6, 9)}, []string{"k9", "k10"}},
		{"given to NewPool", 7, 0, [][]string{keys(0, 3), keys(3, 6), {"k6"}}, nil},
		{"given to NewPool, then more", 4, 6, [][]string{keys(0, 3), {"k3", "k4", "k5"}, keys(6, 9)}, []string{"k9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, ackingVenue())
				var initial []Subscription
				for _, k := range keys(0, tt.initial) {
					initial = append(initial, sub(k))
				}
				p := poolTest(t, srv, PoolConfig{MaxPerConn: 3, MaxConns: 3}, WithSubscriptions(initial...))
				var full []string
				for _, k := range keys(tt.initial, tt.initial+tt.more) {
					err := p.Subscribe(context.Background(), sub(k))
					switch {
					case errors.Is(err, ErrPoolFull):
						full = append(full, k)
						if !strings.Contains(err.Error(), fmt.Sprintf("%q", k)) {
							t.Errorf("error %q does not name the key", err)
						}
					case err != nil:
						t.Fatalf("Subscribe(%s): %v", k, err)
					}
					synctest.Wait()
				}
				time.Sleep(time.Second)
				synctest.Wait()
				if diff := cmp.Diff(tt.full, full); diff != "" {
					t.Errorf("refused (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.shards, poolShards(p)); diff != "" {
					t.Errorf("connections' subscriptions (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(sortedShards(tt.shards), sortedShards(venueSubs(srv))); diff != "" {
					t.Errorf("what the venue's connections subscribed (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(slices.Concat(tt.shards...), p.Subscriptions()); diff != "" {
					t.Errorf("Subscriptions (-want +got):\n%s", diff)
				}
				for i, shard := range tt.shards {
					for _, k := range shard {
						if c, ok := p.Conn(k); !ok || c != p.Conns()[i] {
							t.Errorf("Conn(%s) is not connection %d", k, i)
						}
					}
				}
				if _, ok := p.Conn("nope"); ok {
					t.Error("Conn of an unknown key found one")
				}
				want := PoolStats{Conns: len(tt.shards), Ready: len(tt.shards), Subscriptions: len(slices.Concat(tt.shards...))}
				if st := p.Stats(); st.Conns != want.Conns || st.Ready != want.Ready || st.Subscriptions != want.Subscriptions || st.Connects != uint64(want.Conns) {
					t.Errorf("Stats = %+v, want %+v and %d connects", st, want, want.Conns)
				}
			})
		})
	}
}

// TestPoolUnsubscribe: an unsubscribed key leaves room that the next
// Subscribe takes, on that connection; a duplicate sends nothing.
func TestPoolUnsubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		p := poolTest(t, srv, PoolConfig{MaxPerConn: 2, MaxConns: 2, ConnOptions: connHeader})
		ctx := context.Background()
		for _, k := range keys(0, 4) {
			if err := p.Subscribe(ctx, sub(k)); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if err := p.Subscribe(ctx, sub("k9")); !errors.Is(err, ErrPoolFull) {
			t.Fatalf("Subscribe on a full pool = %v, want ErrPoolFull", err)
		}
		if err := p.Unsubscribe(ctx, "k1"); err != nil {
			t.Fatal(err)
		}
		if err := p.Unsubscribe(ctx, "unknown"); err != nil {
			t.Errorf("Unsubscribe(unknown) = %v, want nil", err)
		}
		for _, k := range []string{"k9", "k2"} { // k2 is a duplicate
			if err := p.Subscribe(ctx, sub(k)); err != nil {
				t.Fatalf("Subscribe(%s): %v", k, err)
			}
		}
		synctest.Wait()
		want := [][]string{{"k0", "k9"}, {"k2", "k3"}}
		if diff := cmp.Diff(want, poolShards(p)); diff != "" {
			t.Errorf("connections' subscriptions (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(sortedShards(want), sortedShards(venueSubs(srv))); diff != "" {
			t.Errorf("at the venue (-want +got):\n%s", diff)
		}
		c0, _ := venueConn(srv, 0)
		if diff := cmp.Diff([]string{"sub:k0", "sub:k1", "unsub:k1", "sub:k9"}, c0.ReceivedText()); diff != "" {
			t.Errorf("first connection received (-want +got):\n%s", diff)
		}
	})
}

// TestPoolRestart: after the venue drops every connection, or goes down
// and comes back, each connection redials and replays its own
// subscriptions: every subscription is back, each on exactly one
// connection, where it was.
func TestPoolRestart(t *testing.T) {
	tests := []struct {
		name    string
		restart func(*wsconntest.Server)
	}{
		{"every connection reset", (*wsconntest.Server).ResetAll},
		{"down for 30s", func(srv *wsconntest.Server) {
			srv.Down()
			time.Sleep(30 * time.Second)
			_ = srv.Up()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, ackingVenue())
				var initial []Subscription
				for _, k := range keys(0, 20) {
					initial = append(initial, sub(k))
				}
				p := poolTest(t, srv, PoolConfig{MaxPerConn: 5, MaxConns: 4}, WithSubscriptions(initial...))
				time.Sleep(time.Second)
				before := poolShards(p)
				if len(before) != 4 || len(venueSubs(srv)) != 4 {
					t.Fatalf("%d connections, %d at the venue; want 4", len(before), len(venueSubs(srv)))
				}
				tt.restart(srv)
				time.Sleep(2 * time.Minute)
				synctest.Wait()
				if diff := cmp.Diff(before, poolShards(p)); diff != "" {
					t.Errorf("the connections' subscriptions moved (-before +after):\n%s", diff)
				}
				if diff := cmp.Diff(sortedShards(before), sortedShards(venueSubs(srv))); diff != "" {
					t.Errorf("at the venue after the restart (-want +got):\n%s", diff)
				}
				if st := p.Stats(); st.Ready != 4 || st.Reconnects != 4 {
					t.Errorf("Stats = %+v, want 4 Ready after 4 reconnects", st)
				}
			})
		})
	}
}

// TestPoolDialBudget: every dial of every connection, first dials and
// redials, counts against the pool's budget: the venue never sees more
// than 3 within a minute, through two restarts, and every subscription
// is back in the end. Without a budget it sees all 6 at once.
func TestPoolDialBudget(t *testing.T) {
	tests := []struct {
		name   string
		budget int
		over   bool // more than 3 dials within a minute
	}{
		{"no budget", 0, true},
		{"3 per minute", 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, ackingVenue())
				var (
					log   = dialLog{reachedOnly: true}
					waits waitLog
				)
				cfg := PoolConfig{MaxPerConn: 1, MaxConns: 6}
				if tt.budget > 0 {
					cfg.DialBudget, _ = retry.NewDialBudget(tt.budget, time.Minute)
				}
				var initial []Subscription
				for _, k := range keys(0, 6) {
					initial = append(initial, sub(k))
				}
				p := poolTest(t, srv, cfg, WithHTTPClient(log.client(t, srv)), WithSubscriptions(initial...), waits.option())
				time.Sleep(3 * time.Minute)
				srv.ResetAll()
				time.Sleep(30 * time.Second)
				srv.Down()
				time.Sleep(10 * time.Second)
				_ = srv.Up()
				time.Sleep(5 * time.Minute)
				synctest.Wait()
				dials := log.times()
				if got := maxInWindow(dials, time.Minute); (got > 3) != tt.over {
					t.Errorf("%d dials, at most %d within a minute", len(dials), got)
				}
				if diff := cmp.Diff(sortedShards(poolShards(p)), sortedShards(venueSubs(srv))); diff != "" || len(venueSubs(srv)) != 6 {
					t.Errorf("at the venue in the end (-want +got):\n%s", diff)
				}
				gated := 0
				for _, w := range waits.list() {
					if w.Reason == retry.WaitDialGate {
						gated++
					}
				}
				if (tt.budget > 0) != (gated > 0) {
					t.Errorf("%d waits for the dial gate", gated)
				}
				if b := cfg.DialBudget; b != nil && b.Stats().Admitted < uint64(len(dials)) {
					t.Errorf("the budget admitted %d dials, the venue saw %d", b.Stats().Admitted, len(dials))
				}
			})
		})
	}
}

// TestPoolClose: Close closes every connection with a close handshake and
// returns once all are Closed; the pool is then done with ErrClosed, and
// refuses subscriptions.
func TestPoolClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		p := poolTest(t, srv, PoolConfig{MaxPerConn: 2, MaxConns: 3})
		ctx := context.Background()
		for _, k := range keys(0, 5) {
			if err := p.Subscribe(ctx, sub(k)); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if p.Err() != nil {
			t.Errorf("Err while running = %v", p.Err())
		}
		if err := p.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case <-p.Done():
		default:
			t.Error("Done is open after Close")
		}
		for i, c := range p.Conns() {
			if c.State() != connfsm.Closed {
				t.Errorf("connection %d is %v", i, c.State())
			}
		}
		synctest.Wait()
		for _, c := range srv.Connections() {
			if f, ok := c.CloseFrom(wsconntest.FromClient); !ok || f.Code != websocket.StatusNormalClosure {
				t.Errorf("connection %d: close frame %+v, want 1000 from the client", c.N, f)
			}
		}
		if !errors.Is(p.Err(), ErrClosed) {
			t.Errorf("Err = %v, want ErrClosed", p.Err())
		}
		if err := p.Subscribe(ctx, sub("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
		}
		if err := p.Close(ctx); err != nil {
			t.Errorf("a second Close = %v", err)
		}

		empty := poolTest(t, srv, PoolConfig{MaxPerConn: 2, MaxConns: 3})
		if err := empty.Close(ctx); err != nil || !errors.Is(empty.Err(), ErrClosed) {
			t.Errorf("Close of a pool without connections = %v, Err %v", err, empty.Err())
		}
	})
}

// TestPoolCloseFromInside: Close from a connection's handler starts the
// close and returns at once.
func TestPoolCloseFromInside(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Push(time.Second, func(int) wsconntest.Message { return wsconntest.Text("tick") })))
		var pool atomic.Pointer[Pool]
		returned := make(chan error, 1)
		p := poolTest(t, srv, PoolConfig{MaxPerConn: 1, MaxConns: 2}, OnMessage(func(ctx context.Context, _ transport.Message) {
			select {
			case returned <- pool.Load().Close(ctx):
			default:
			}
		}))
		pool.Store(p)
		for _, k := range []string{"a", "b"} {
			if err := p.Subscribe(context.Background(), Subscription{Key: k, Message: []byte(k)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-returned; err != nil {
			t.Errorf("Close from inside = %v", err)
		}
		<-p.Done()
		if !errors.Is(p.Err(), ErrClosed) {
			t.Errorf("Err = %v, want ErrClosed", p.Err())
		}
	})
}

// TestPoolMovesSubscriptions: a connection that gives up for good, once
// it stayed up for the stable period, does not end the pool: its
// subscriptions move to a new connection (the others are full), each
// subscribed once at the venue.
func TestPoolMovesSubscriptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue(), wsconntest.Choose(func(r *http.Request, _ int) []wsconntest.Behavior {
			if r.Header.Get("X-Conn") == "1" {
				return []wsconntest.Behavior{wsconntest.After(DefaultStablePeriod+time.Second, wsconntest.Close(websocket.StatusProtocolError, "bad frame"))}
			}
			return nil
		}))
		p := poolTest(t, srv, PoolConfig{MaxPerConn: 1, MaxConns: 2, ConnOptions: connHeader}, WithSubscriptions(sub("a"), sub("b")))
		time.Sleep(DefaultStablePeriod + 5*time.Second)
		synctest.Wait()
		if got := p.State(); got != PoolRunning {
			t.Fatalf("pool %v, want Running", got)
		}
		if diff := cmp.Diff([][]string{{"a"}, {"b"}}, poolShards(p)); diff != "" {
			t.Errorf("shards (-want +got):\n%s", diff)
		}
		if c, ok := venueConn(srv, 2); !ok || !c.Open() || !slices.Equal(c.ReceivedText(), []string{"sub:b"}) {
			t.Errorf("connection 2 at the venue: open %v, received %q; want sub:b", ok && c.Open(), c.ReceivedText())
		}
		st := p.Stats()
		if st.Moved != 1 || st.Pending != 0 || st.Subscriptions != 2 || st.Conns != 2 {
			t.Errorf("stats %+v, want 2 connections, 2 subscriptions, 1 moved, none pending", st)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if p.State() != PoolEnded || !errors.Is(p.Err(), ErrClosed) {
			t.Errorf("after Close: %v, %v; want Ended, ErrClosed", p.State(), p.Err())
		}
		if err := p.Subscribe(context.Background(), sub("c")); !errors.Is(err, ErrClosed) {
			t.Errorf("Subscribe once ended = %v, want ErrClosed", err)
		}
	})
}

// TestPoolLife: the pool's own table, on real machines.
func TestPoolLife(t *testing.T) {
	fsmtest.Check(t, PoolDefinition(), []fsmtest.Row[PoolState, PoolEvent]{
		{From: PoolRunning, Event: PoolClose, Want: fsm.To(PoolEnding)},
		{From: PoolRunning, Event: PoolConnEnded, Want: fsm.Ignore[PoolState]()},
		{From: PoolRunning, Event: PoolDrained, Want: fsm.Ignore[PoolState]()},
		{From: PoolEnding, Event: PoolClose, Want: fsm.Ignore[PoolState]()},
		{From: PoolEnding, Event: PoolConnEnded, Want: fsm.Ignore[PoolState]()},
		{From: PoolEnding, Event: PoolDrained, Want: fsm.To(PoolEnded)},
	})
	def := PoolDefinition()
	if missing := fsmtest.Uncovered(def, fsmtest.Paths(def)); missing != nil {
		t.Errorf("transitions no path takes: %v", missing)
	}
}

// TestNewPool: the configuration is checked first, every problem named
// and nothing started; without NoWait, NewPool waits until every
// connection is Ready, bounded by ctx.
func TestNewPool(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		cfg      PoolConfig
		opts     []Option
		problems int
	}{
		{"no caps", "ws://feed.test/", PoolConfig{}, nil, 2},
		{"negative caps", "ws://feed.test/", PoolConfig{MaxPerConn: -1, MaxConns: -1}, nil, 2},
		{"a bad option", "ws://feed.test/", PoolConfig{MaxPerConn: 1, MaxConns: 1}, []Option{WithHeartbeat(0, time.Second)}, 1},
		{"subscriptions that do not fit", "ws://feed.test/", PoolConfig{MaxPerConn: 1, MaxConns: 2},
			[]Option{WithSubscriptions(sub("a"), sub("b"), sub("c"))}, 1},
	}
	for _, tt := range tests {
		p, err := newPoolWS(context.Background(), tt.url, tt.cfg, tt.opts...)
		var ce *transport.ConfigError
		if p != nil || !errors.As(err, &ce) || len(ce.Problems) != tt.problems {
			t.Errorf("%s: NewPool = %v, %v; want %d problems", tt.name, p, err, tt.problems)
		}
	}
	var nilCtx context.Context
	if _, err := newPoolWS(nilCtx, "ws://feed.test/", PoolConfig{MaxPerConn: 1, MaxConns: 1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("newPoolWS(nil ctx) = %v, want a configuration error", err)
	}

	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		p, err := newPoolWS(t.Context(), "ws://feed.test/", PoolConfig{MaxPerConn: 2, MaxConns: 2},
			WithHTTPClient(srv.Client()), WithSubscriptions(sub("a"), sub("b"), sub("c")))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(context.Background())
		if st := p.Stats(); st.Ready != 2 {
			t.Errorf("%d connections Ready when NewPool returned, want 2", st.Ready)
		}

		srv.Down()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		p2, err := newPoolWS(ctx, "ws://feed.test/", PoolConfig{MaxPerConn: 2, MaxConns: 2},
			WithHTTPClient(srv.Client()), WithSubscriptions(sub("a")))
		if p2 != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("NewPool against a venue that is down = %v, %v; want the deadline", p2, err)
		}
	})
}

// TestPoolDownSpendsNoBudget: the dials refused while the venue is down
// never reached it and spend none of the budget: once it is back, every
// connection is back within seconds, not a window later.
func TestPoolDownSpendsNoBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		budget, _ := retry.NewDialBudget(6, time.Minute)
		var initial []Subscription
		for _, k := range keys(0, 6) {
			initial = append(initial, sub(k))
		}
		p := poolTest(t, srv, PoolConfig{MaxPerConn: 1, MaxConns: 6, DialBudget: budget}, WithSubscriptions(initial...))
		time.Sleep(2 * time.Minute)
		srv.Down()
		time.Sleep(20 * time.Second) // each connection redials a few times, refused
		refused := srv.Stats().Refused
		up(t, srv)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if st := p.Stats(); st.Ready != 6 || refused < 12 {
			t.Errorf("%d Ready 5s after up, after %d refused dials; want 6 after at least 12", st.Ready, refused)
		}
	})
}

// TestPoolConnConfigs: each connection's configuration is made from the
// pool's options without the pool's subscriptions (sharded once, by
// NewPool) and holds only its own shard; a key given twice is placed once,
// at its first place. Applying every subscription for every connection
// cost a million-subscription pool a billion copies.
func TestPoolConnConfigs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		var mu sync.Mutex
		var seen, shards [][]string // what each connection's options saw, and kept
		saw := func(into *[][]string) Option {
			return func(c *config) {
				var ks []string
				for _, s := range c.subscriptions {
					ks = append(ks, s.Key)
				}
				mu.Lock()
				*into = append(*into, ks)
				mu.Unlock()
			}
		}
		var initial []Subscription
		for _, k := range []string{"a", "b", "a", "c", "d", "b", "e"} {
			initial = append(initial, sub(k))
		}
		cfg := PoolConfig{MaxPerConn: 2, MaxConns: 3, ConnOptions: func(int) []Option { return []Option{saw(&seen)} }}
		p := poolTest(t, srv, cfg, WithSubscriptions(initial...))
		synctest.Wait()
		for _, c := range p.Conns() {
			shards = append(shards, c.Subscriptions())
		}
		want := struct{ Seen, Shards [][]string }{
			Seen:   [][]string{nil, nil, nil},
			Shards: [][]string{{"a", "b"}, {"c", "d"}, {"e"}},
		}
		if diff := cmp.Diff(want, struct{ Seen, Shards [][]string }{seen, shards}); diff != "" {
			t.Errorf("connection configurations (-want +got):\n%s", diff)
		}
	})
}

func TestUniqueKeys(t *testing.T) {
	tests := []struct {
		name string
		keys []string
		want []string
	}{
		{"none", nil, []string{}},
		{"distinct", []string{"a", "b"}, []string{"a", "b"}},
		{"the first of each kept, in order", []string{"b", "a", "b", "c", "a"}, []string{"b", "a", "c"}},
	}
	for _, tt := range tests {
		var subs []Subscription
		for i, k := range tt.keys {
			subs = append(subs, Subscription{Key: k, Message: []byte(fmt.Sprint(i))})
		}
		got := []string{}
		for _, s := range uniqueKeys(subs) {
			got = append(got, s.Key)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: uniqueKeys (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestPoolBatch: a Batch given to NewPool serves every connection, each
// with its own copy: one connection's Dial must not write what another's
// sync reads (the race detector fails this test otherwise).
func TestPoolBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		var initial []Subscription
		for _, k := range keys(0, 6) {
			initial = append(initial, sub(k))
		}
		batch := WithBatch(Batch{Max: 1, Subscribe: func(keys []string) []byte { return []byte("sub:" + keys[0]) }})
		p := poolTest(t, srv, PoolConfig{MaxPerConn: 2, MaxConns: 3}, batch, WithSubscriptions(initial...))
		time.Sleep(time.Second)
		synctest.Wait()
		want := [][]string{{"k0", "k1"}, {"k2", "k3"}, {"k4", "k5"}}
		if diff := cmp.Diff(want, sortedShards(venueSubs(srv))); diff != "" {
			t.Errorf("subscriptions at the venue (-want +got):\n%s", diff)
		}
		if st := p.Stats(); st.Ready != 3 {
			t.Errorf("%d connections Ready, want 3", st.Ready)
		}
	})
}
