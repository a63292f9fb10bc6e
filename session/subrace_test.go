package session

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
)

// gateLimiter holds every send while shut, until open.
type gateLimiter struct {
	mu   sync.Mutex
	gate chan struct{} // nil: open
}

func (l *gateLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	gate := l.gate
	l.mu.Unlock()
	if gate == nil {
		return nil
	}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *gateLimiter) shut() {
	l.mu.Lock()
	l.gate = make(chan struct{})
	l.mu.Unlock()
}

func (l *gateLimiter) open() {
	l.mu.Lock()
	close(l.gate)
	l.gate = nil
	l.mu.Unlock()
}

// awaitHolders waits, without the clock (the goroutines it waits for may
// be waiting for a mutex), until key has n holders.
func awaitHolders(t *testing.T, c *Client, key string, n int) {
	t.Helper()
	for range 100000 {
		if st, _ := c.SubscriptionStatus(key); st.Holders == n {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("%s: never %d holders", key, n)
}

// TestSubscribeRacesLastUnsubscribe: a Subscribe of a key that comes
// while the Unsubscribe of its last holder is under way holds the key
// afterwards: Subscribe returns nil and the key is subscribed, at the
// venue too, never dropped by the Unsubscribe it overtook nor failed by
// finding the subscription removed.
func TestSubscribeRacesLastUnsubscribe(t *testing.T) {
	tests := []struct {
		name string
		// race runs Unsubscribe("a") and Subscribe(sub("a")) so that the
		// Subscribe comes while the Unsubscribe is under way, and returns
		// their errors.
		race      func(t *testing.T, c *Client, lim *gateLimiter) (unsub, subErr error)
		wantVenue []string
	}{{
		name: "before the unsubscribe's turn",
		race: func(t *testing.T, c *Client, _ *gateLimiter) (error, error) {
			// The Unsubscribe took the last holder and waits for the
			// key's turn, which the test holds.
			s := c.reg().byKey["a"]
			s.mu.Lock()
			unsub := make(chan error)
			go func() { unsub <- c.Unsubscribe(context.Background(), "a") }()
			awaitHolders(t, c, "a", 0)
			subErr := make(chan error)
			go func() { subErr <- c.Subscribe(context.Background(), sub("a")) }()
			awaitHolders(t, c, "a", 1)
			s.mu.Unlock()
			return <-unsub, <-subErr
		},
		wantVenue: []string{"sub:a"},
	}, {
		name: "while the unsubscribe is written",
		race: func(t *testing.T, c *Client, lim *gateLimiter) (error, error) {
			lim.shut()
			unsub := make(chan error)
			go func() { unsub <- c.Unsubscribe(context.Background(), "a") }()
			synctest.Wait() // unsub:a waits for the limiter
			subErr := make(chan error)
			go func() { subErr <- c.Subscribe(context.Background(), sub("a")) }()
			awaitHolders(t, c, "a", 1)
			lim.open()
			return <-unsub, <-subErr
		},
		wantVenue: []string{"sub:a", "unsub:a", "sub:a"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, ackingVenue())
				var rec recorder
				lim := &gateLimiter{}
				c := dialTest(t, srv, &rec, WithRateLimit(lim))
				waitPhase(t, c, connfsm.Ready)
				if err := c.Subscribe(context.Background(), sub("a")); err != nil {
					t.Fatal(err)
				}
				unsubErr, subErr := tt.race(t, c, lim)
				if unsubErr != nil {
					t.Errorf("Unsubscribe: %v", unsubErr)
				}
				if subErr != nil {
					t.Errorf("Subscribe: %v", subErr)
				}
				synctest.Wait()
				if diff := cmp.Diff([]string{"a"}, c.Subscriptions()); diff != "" {
					t.Errorf("Subscriptions (-want +got):\n%s", diff)
				}
				st, ok := c.SubscriptionStatus("a")
				if !ok || st.State != subscription.Active || st.Holders != 1 {
					t.Errorf("status %+v, %v; want Active with 1 holder", st, ok)
				}
				if diff := cmp.Diff([][]string{tt.wantVenue}, received(srv)); diff != "" {
					t.Errorf("venue (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestResendWhileAnswerDue: a subscription unsubscribed and subscribed
// again while its first subscribe's ack is still due is sent again, and
// awaited once: once Active, no ack is awaited (the reader stops trying
// its matcher, or asking the Router, for every message).
func TestResendWhileAnswerDue(t *testing.T) {
	tests := []struct {
		name string
		sub  Subscription
		opts []Option
	}{
		{"Ack matcher", sub("a"), nil},
		{"Router", Subscription{Key: "a", Message: []byte("sub:a"), Unsubscribe: []byte("unsub:a")},
			[]Option{WithRouter(subscription.Router{Acks: true, Route: func(m transport.Message) subscription.Route {
				if k, ok := strings.CutPrefix(string(m.Data), "ack:"); ok {
					return subscription.Route{Key: k, Kind: subscription.Acked}
				}
				return subscription.Route{}
			}})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, slowAckVenue(time.Second))
				var rec recorder
				c := dialTest(t, srv, &rec, tt.opts...)
				waitPhase(t, c, connfsm.Ready)
				ctx := context.Background()
				go func() { _ = c.Subscribe(ctx, tt.sub) }()
				time.Sleep(100 * time.Millisecond)
				if err := c.Unsubscribe(ctx, "a"); err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
				if err := c.Subscribe(ctx, tt.sub); err != nil {
					t.Fatal(err)
				}
				time.Sleep(3 * time.Second)
				synctest.Wait()
				if st, _ := c.SubscriptionStatus("a"); st.State != subscription.Active {
					t.Errorf("state %v, want Active", st.State)
				}
				if diff := cmp.Diff([][]string{{"sub:a", "unsub:a", "sub:a"}}, received(srv)); diff != "" {
					t.Errorf("venue (-want +got):\n%s", diff)
				}
				r := c.reg()
				if a, n := r.awaiting.Load(), r.routed.Load(); a != 0 || n != 0 {
					t.Errorf("awaiting %d answers by matcher, %d by the Router; want none", a, n)
				}
			})
		})
	}
}

// TestSendRecordConn: the record of a subscription's Send names the
// connection it is sent on, the one its ack then comes on, on the first
// connection and on the next.
func TestSendRecordConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		var rec recorder
		var subs subRecorder
		c := dialTest(t, srv, &rec, OnRecord(subs.observe), WithSubscriptions(sub("a")),
			WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}))
		waitPhase(t, c, connfsm.Ready)
		srv.ResetAll()
		time.Sleep(3 * time.Second)
		waitPhase(t, c, connfsm.Ready)
		type step struct {
			Step string
			Conn uint64
		}
		var got, want []step
		subs.mu.Lock()
		for i, r := range subs.recs {
			if r.Kind != fsm.RecordTransition {
				continue
			}
			got = append(got, step{r.String(), r.Conn})
			if r.Event == subscription.Send && i+1 < len(subs.recs) {
				want = append(want, step{r.String(), subs.recs[i+1].Conn})
			} else if r.Event != subscription.Send {
				want = append(want, step{r.String(), r.Conn})
			}
		}
		subs.mu.Unlock()
		if len(got) != 5 {
			t.Fatalf("steps %v, want 2 sends, 2 acks and a Lost", got)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
	})
}

// TestSubscribeCanceledBeforeWrite: a Subscribe whose ctx ends while its
// message waits for the rate limiter wrote nothing, and says so; the
// connection is fine, so the next Subscribe of the key sends it there at
// once, and is answered, rather than failing with ErrNotConnected and
// leaving it Pending until a reconnect.
func TestSubscribeCanceledBeforeWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		var rec recorder
		lim := &gateLimiter{}
		c := dialTest(t, srv, &rec, WithRateLimit(lim))
		waitPhase(t, c, connfsm.Ready)
		lim.shut()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.Subscribe(ctx, sub("a")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Subscribe = %v, want the deadline", err)
		}
		lim.open()
		if err := c.Subscribe(context.Background(), sub("a")); err != nil {
			t.Errorf("Subscribe again = %v, want nil", err)
		}
		synctest.Wait()
		if st, _ := c.SubscriptionStatus("a"); st.State != subscription.Active || st.Holders != 2 {
			t.Errorf("status %+v, want Active with 2 holders", st)
		}
		if diff := cmp.Diff([][]string{{"sub:a"}}, received(srv)); diff != "" {
			t.Errorf("venue (-want +got):\n%s", diff)
		}
	})
}
