package session

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestPoolEveryConnGivesUp: connections the venue refuses for good before
// they ever connect get no new connections in their place (each would be
// refused at once, in a loop without a pause): their subscriptions wait
// Pending in the pool, and the connection the next Subscribe opens takes
// them first.
func TestPoolEveryConnGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const refused = 2 // the first dials: the pool's two connections
		srv := startServer(t, ackingVenue(), wsconntest.Choose(func(_ *http.Request, n int) []wsconntest.Behavior {
			if n <= refused {
				return []wsconntest.Behavior{wsconntest.Refuse(http.StatusUnauthorized, nil)}
			}
			return nil
		}))
		p := poolTest(t, srv, PoolConfig{MaxPerConn: 2, MaxConns: 2}, WithSubscriptions(sub("a"), sub("b"), sub("c")))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := dials(srv); got != refused {
			t.Errorf("%d dials, want the %d refused", got, refused)
		}
		st := p.Stats()
		if st.Conns != 0 || st.Pending != 3 || st.Subscriptions != 3 {
			t.Errorf("stats %+v, want no connection, 3 subscriptions Pending", st)
		}
		if diff := cmp.Diff([]string{"a", "b", "c"}, slices.Sorted(slices.Values(p.Subscriptions()))); diff != "" {
			t.Errorf("Subscriptions (-want +got):\n%s", diff)
		}
		if err := p.Subscribe(context.Background(), sub("d")); err != nil {
			t.Fatalf("Subscribe once the venue accepts: %v", err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		// The parked keys are in the order their connections gave up.
		shards := poolShards(p)
		if len(shards) != 2 || len(shards[0]) != 2 || len(shards[1]) != 2 ||
			!slices.Equal(slices.Sorted(slices.Values(slices.Concat(shards...))), []string{"a", "b", "c", "d"}) || shards[1][1] != "d" {
			t.Errorf("shards %q, want a, b and c on two connections of 2, then d", shards)
		}
		if diff := cmp.Diff(sortedShards(shards), sortedShards(venueSubs(srv))); diff != "" {
			t.Errorf("at the venue (-pool +venue):\n%s", diff)
		}
		if st := p.Stats(); st.Conns != 2 || st.Pending != 0 || st.Subscriptions != 4 {
			t.Errorf("stats %+v, want 2 connections, 4 subscriptions, none Pending", st)
		}
	})
}

// TestPoolHolders: a key the pool holds twice, given twice to NewPool or
// subscribed twice, is held twice, as by a lone client: the first
// Unsubscribe drops a holder and sends nothing, the second unsubscribes,
// whether the key is on a connection or waits Pending in the pool.
func TestPoolHolders(t *testing.T) {
	refuse := wsconntest.Default(wsconntest.Refuse(http.StatusUnauthorized, nil))
	tests := []struct {
		name    string
		perConn int
		venue   []wsconntest.Option
		opts    []Option
		more    int // further Subscribes of a
		// want is the pool's subscriptions after each Unsubscribe of a.
		want [][]string
	}{
		{"given twice", 2, nil, []Option{WithSubscriptions(sub("a"), sub("b"), sub("a"))}, 0, [][]string{{"a", "b"}, {"b"}}},
		{"given twice, one connection each", 1, nil, []Option{WithSubscriptions(sub("a"), sub("b"), sub("a"))}, 0, [][]string{{"a", "b"}, {"b"}}},
		{"subscribed twice", 2, nil, []Option{WithSubscriptions(sub("b"))}, 2, [][]string{{"b", "a"}, {"b"}}},
		{"Pending in the pool", 2, []wsconntest.Option{refuse}, []Option{WithSubscriptions(sub("a"))}, 1, [][]string{{"a"}, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, append([]wsconntest.Option{ackingVenue()}, tt.venue...)...)
				p := poolTest(t, srv, PoolConfig{MaxPerConn: tt.perConn, MaxConns: 2}, tt.opts...)
				for range tt.more {
					if err := p.Subscribe(context.Background(), sub("a")); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(time.Second)
				synctest.Wait()
				for n, want := range tt.want {
					if err := p.Unsubscribe(context.Background(), "a"); err != nil {
						t.Fatal(err)
					}
					synctest.Wait()
					if diff := cmp.Diff(want, append([]string{}, p.Subscriptions()...)); diff != "" {
						t.Errorf("after %d Unsubscribe (-want +got):\n%s", n+1, diff)
					}
					if st := p.Stats(); st.Subscriptions != len(want) {
						t.Errorf("after %d Unsubscribe: stats %+v, want %d subscriptions", n+1, st, len(want))
					}
				}
			})
		})
	}
}

// TestPoolCloseWhileOpening: a Close while a Subscribe opens a
// connection ends the pool only once that connection is Closed too:
// nothing of the pool runs, nor observes, once Done is closed.
func TestPoolCloseWhileOpening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		opening, release := make(chan struct{}), make(chan struct{})
		var records atomic.Int64
		cfg := PoolConfig{MaxPerConn: 1, MaxConns: 2, ConnOptions: func(n int) []Option {
			if n == 1 {
				close(opening)
				<-release
			}
			return nil
		}}
		p := poolTest(t, srv, cfg, WithSubscriptions(sub("a")),
			OnRecord(func(context.Context, record) { records.Add(1) }))
		subErr := make(chan error)
		go func() { subErr <- p.Subscribe(context.Background(), sub("b")) }()
		<-opening
		closed := make(chan error)
		go func() { closed <- p.Close(context.Background()) }()
		synctest.Wait() // the close waits for the connection being opened
		ended := isClosed(p.Done())
		n := records.Load()
		close(release)
		if err := <-subErr; !errors.Is(err, ErrClosed) {
			t.Errorf("Subscribe = %v, want ErrClosed", err)
		}
		if err := <-closed; err != nil {
			t.Errorf("Close: %v", err)
		}
		synctest.Wait()
		if got := records.Load(); ended && got != n {
			t.Errorf("%d records after the pool ended", got-n)
		}
	})
}

// TestPoolSubscribeRacesUnsubscribe: a Subscribe of a key that comes
// while the Unsubscribe of its last holder is under way leaves the key
// where the pool finds it: counted, on its connection, and unsubscribed
// by the next Unsubscribe, not left at the venue with the pool unaware.
func TestPoolSubscribeRacesUnsubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		lim := &gateLimiter{}
		p := poolTest(t, srv, PoolConfig{MaxPerConn: 2, MaxConns: 2}, WithRateLimit(lim))
		ctx := context.Background()
		if err := p.Subscribe(ctx, sub("a")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		c, _ := p.Conn("a")
		lim.shut()
		unsub := make(chan error)
		go func() { unsub <- p.Unsubscribe(ctx, "a") }()
		synctest.Wait() // unsub:a waits for the limiter
		subErr := make(chan error)
		go func() { subErr <- p.Subscribe(ctx, sub("a")) }()
		awaitHolders(t, c, "a", 1)
		lim.open()
		if err := <-unsub; err != nil {
			t.Errorf("Unsubscribe: %v", err)
		}
		if err := <-subErr; err != nil {
			t.Errorf("Subscribe: %v", err)
		}
		synctest.Wait()
		if on, ok := p.Conn("a"); !ok || on != c {
			t.Errorf("Conn(a) = %p, %v; want %p", on, ok, c)
		}
		if st := p.Stats(); st.Subscriptions != 1 {
			t.Errorf("stats %+v, want 1 subscription", st)
		}
		if err := p.Unsubscribe(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		want := [][]string{{"sub:a", "unsub:a", "sub:a", "unsub:a"}}
		if diff := cmp.Diff(want, received(srv)); diff != "" {
			t.Errorf("venue (-want +got):\n%s", diff)
		}
		if got := p.Subscriptions(); len(got) != 0 {
			t.Errorf("Subscriptions %q, want none", got)
		}
	})
}

// TestPoolObserverPanics: an observer that panics on the record of a
// subscription left waiting in the pool (its connection gave up) costs
// the pool nothing: the panic is recovered, as on a connection's records,
// and the subscriptions still wait for the next connection.
func TestPoolObserverPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue(), wsconntest.Choose(func(_ *http.Request, n int) []wsconntest.Behavior {
			if n == 1 {
				return []wsconntest.Behavior{wsconntest.Refuse(http.StatusUnauthorized, nil)}
			}
			return nil
		}))
		var parked atomic.Int64
		p := poolTest(t, srv, PoolConfig{MaxPerConn: 2, MaxConns: 1}, WithSubscriptions(sub("a")),
			OnRecord(func(_ context.Context, r record) {
				if sr, ok := r.Payload.(*subscription.Record); ok && sr.Kind == fsm.RecordStarted && r.Err != nil {
					parked.Add(1)
					panic("observer bug")
				}
			}))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if parked.Load() == 0 {
			t.Fatal("no record of a parked subscription reached the observer")
		}
		if err := p.Subscribe(context.Background(), sub("b")); err != nil {
			t.Fatalf("Subscribe after the observer panicked: %v", err)
		}
		if diff := cmp.Diff([]string{"a", "b"}, slices.Sorted(slices.Values(p.Subscriptions()))); diff != "" {
			t.Errorf("Subscriptions (-want +got):\n%s", diff)
		}
	})
}

// TestPoolBannedConnsAreNotReplaced: a venue that accepts every
// connection and then closes it with a close code the client gives up on
// (a ban) would, if each were replaced, be dialled again at once, and
// again, in a loop without a pause. A connection that never stayed up for
// the stable period is treated as one that never connected: no new one
// takes its place, and its subscriptions wait Pending in the pool.
func TestPoolBannedConnsAreNotReplaced(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration // how long the venue lets each connection live
	}{
		{"closed at once", 0},
		{"closed within the stable period", DefaultStablePeriod / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, ackingVenue(), wsconntest.Default(wsconntest.Echo(),
					wsconntest.After(tt.after, wsconntest.Close(4001, "banned"))))
				var rec recorder
				p := poolTest(t, srv, PoolConfig{MaxPerConn: 1, MaxConns: 2},
					WithPermanentCloseCodes(4001), WithSubscriptions(sub("a"), sub("b")), OnRecord(rec.Observe))
				time.Sleep(time.Minute)
				synctest.Wait()
				// A close racing the sync's write may reach a connection as
				// a broken write, a transient loss: that client redials
				// once under its own backoff before the ban's code comes.
				// Every other dial is a connection the pool opened.
				redials := rec.Count("Reconnecting-RetryDue->Connecting")
				if got := dials(srv) - redials; got != 2 {
					t.Errorf("%d dials in a minute beside %d redials, want 2 (one per connection, none replaced)", got, redials)
				}
				if st := p.Stats(); st.Conns != 0 || st.Pending != 2 || st.Subscriptions != 2 {
					t.Errorf("stats %+v, want no connection, 2 subscriptions Pending", st)
				}
			})
		})
	}
}
