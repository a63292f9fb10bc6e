package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// streamVenue answers "sub:K" with "ack:K" ("nack:K" for a K starting
// with "bad"), then sends "data:K" n times, and "news" after the first
// subscribe of a connection.
func streamVenue(n int) wsconntest.Option {
	return wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		key, ok := strings.CutPrefix(string(m.Data), "sub:")
		if !ok {
			return true
		}
		if strings.HasPrefix(key, "bad") {
			_ = c.SendText(c.Context(), "nack:"+key)
			return true
		}
		_ = c.SendText(c.Context(), "ack:"+key)
		for range n {
			_ = c.SendText(c.Context(), "data:"+key)
		}
		_ = c.SendText(c.Context(), "news")
		return true
	}))
}

// prefixRouter routes "ack:K", "nack:K" and "data:K".
var prefixRouter = subscription.Router{Acks: true, Route: func(m transport.Message) subscription.Route {
	kind, key, ok := strings.Cut(string(m.Data), ":")
	if !ok {
		return subscription.Route{}
	}
	switch kind {
	case "ack":
		return subscription.Route{Key: key, Kind: subscription.Acked}
	case "nack":
		return subscription.Route{Key: key, Kind: subscription.Refused}
	case "data":
		return subscription.Route{Key: key, Kind: subscription.Data}
	}
	return subscription.Route{}
}}

type keyed struct {
	mu  sync.Mutex
	got map[string][]string
}

func (k *keyed) handler(key string) func(context.Context, transport.Message) {
	return func(_ context.Context, m transport.Message) {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.got == nil {
			k.got = map[string][]string{}
		}
		k.got[key] = append(k.got[key], string(m.Data))
	}
}

// TestRouter: with a Router, acks and NACKs resolve per key without a
// matcher, each subscription's data goes to its Handler and is counted,
// and OnMessage keeps what no subscription claims.
func TestRouter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, streamVenue(3))
		var rec recorder
		var msgs messages
		var k keyed
		c := dialTest(t, srv, &rec, WithRouter(prefixRouter), OnMessage(msgs.handle))
		waitPhase(t, c, connfsm.Ready)
		ctx := context.Background()
		for _, key := range []string{"a", "b"} {
			if err := c.Subscribe(ctx, Subscription{Key: key, Message: []byte("sub:" + key), Handler: k.handler(key)}); err != nil {
				t.Fatalf("Subscribe(%s): %v", key, err)
			}
		}
		err := c.Subscribe(ctx, Subscription{Key: "bad", Message: []byte("sub:bad")})
		var se *subscription.Error
		if !errors.As(err, &se) || !errors.Is(err, ErrSubscriptionRefused) || string(se.Message) != "nack:bad" {
			t.Errorf("Subscribe(bad) = %v, want a refusal holding nack:bad", err)
		}
		synctest.Wait()
		want := map[string][]string{"a": {"data:a", "data:a", "data:a"}, "b": {"data:b", "data:b", "data:b"}}
		k.mu.Lock()
		if diff := cmp.Diff(want, k.got); diff != "" {
			t.Errorf("handlers (-want +got):\n%s", diff)
		}
		k.mu.Unlock()
		if diff := cmp.Diff([]string{"news", "news"}, msgs.list()); diff != "" {
			t.Errorf("OnMessage (-want +got):\n%s", diff)
		}
		st, ok := c.SubscriptionStatus("a")
		wantSt := subscription.Status{Key: "a", State: subscription.Active, Holders: 1,
			Stats: subscription.Stats{Messages: 3, LastMessage: time.Now()}}
		if diff := cmp.Diff(wantSt, st, cmpopts.EquateApproxTime(time.Second)); !ok || diff != "" {
			t.Errorf("SubscriptionStatus(a) (-want +got):\n%s", diff)
		}
		st, _ = c.SubscriptionStatus("bad")
		if st.State != subscription.Failed || !errors.Is(st.Err, ErrSubscriptionRefused) {
			t.Errorf("SubscriptionStatus(bad) = %+v, want Failed, refused", st)
		}
		if _, ok := c.SubscriptionStatus("nope"); ok {
			t.Error("SubscriptionStatus(nope) found it")
		}
	})
}

// gapVenue acknowledges "sub:K" and streams "data:K:N" for ns; the n-th
// subscribe of a connection gets the n-th list (the last one after).
func gapVenue(lists ...[]int) wsconntest.Option {
	var mu sync.Mutex
	n := 0
	return wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		key, ok := strings.CutPrefix(string(m.Data), "sub:")
		if !ok {
			return true
		}
		mu.Lock()
		ns := lists[min(n, len(lists)-1)]
		n++
		mu.Unlock()
		_ = c.SendText(c.Context(), "ack:"+key)
		for _, i := range ns {
			_ = c.SendText(c.Context(), fmt.Sprintf("data:%s:%d", key, i))
		}
		return true
	}))
}

func seqOf(m transport.Message) (uint64, bool) {
	i := strings.LastIndexByte(string(m.Data), ':')
	n, err := strconv.ParseUint(string(m.Data[i+1:]), 10, 64)
	return n, err == nil
}

// TestSequenceGap: a gap is counted and observed; the user's resync runs
// (a gap while resyncing does not restart it), messages during it are
// delivered, and the first message after it sets the next number.
func TestSequenceGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, gapVenue([]int{1, 2, 5, 9, 10, 11, 13}))
		var rec recorder
		var subs subRecorder
		var k keyed
		// "data:s:N" belongs to the key s.
		seqRouter := subscription.Router{Acks: true, Route: func(m transport.Message) subscription.Route {
			r := prefixRouter.Route(m)
			r.Key, _, _ = strings.Cut(r.Key, ":")
			return r
		}}
		c := dialTest(t, srv, &rec, WithRouter(seqRouter), OnRecord(subs.observe))
		waitPhase(t, c, connfsm.Ready)
		release := make(chan struct{})
		resync := func(ctx context.Context, key string) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := c.Subscribe(context.Background(), Subscription{Key: "s", Message: []byte("sub:s"),
			Sequence: seqOf, Resync: resync, Handler: k.handler("s")})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st, _ := c.SubscriptionStatus("s"); st.State != subscription.Resyncing {
			t.Fatalf("state %v, want Resyncing", st.State)
		}
		close(release)
		synctest.Wait()
		st, _ := c.SubscriptionStatus("s")
		if st.State != subscription.Active || st.Gaps != 1 || st.Resyncs != 1 || st.Messages != 7 {
			t.Errorf("status %+v, want Active, 7 messages, 1 gap, 1 resync", st)
		}
		k.mu.Lock()
		if n := len(k.got["s"]); n != 7 {
			t.Errorf("handled %d messages, want all 7 (those during the resync too)", n)
		}
		k.mu.Unlock()
		want := []string{"s: Pending -Send-> Subscribing", "s: Subscribing -Ack-> Active",
			"s: Active -Gap-> Resyncing", "s: Resyncing -Resynced-> Active"}
		if diff := cmp.Diff(want, subs.steps()); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
	})
}

// TestResubscribeResync: without a Resync function, a gap unsubscribes
// and subscribes again on the same connection; the new stream's first
// message sets the next number, and its ack ends the resync.
func TestResubscribeResync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, gapVenue([]int{1, 2, 4}, []int{20, 21, 22}))
		var rec recorder
		var subs subRecorder
		seqRouter := subscription.Router{Acks: true, Route: func(m transport.Message) subscription.Route {
			r := prefixRouter.Route(m)
			r.Key, _, _ = strings.Cut(r.Key, ":")
			return r
		}}
		c := dialTest(t, srv, &rec, WithRouter(seqRouter), OnRecord(subs.observe))
		waitPhase(t, c, connfsm.Ready)
		err := c.Subscribe(context.Background(), Subscription{Key: "s", Message: []byte("sub:s"),
			Unsubscribe: []byte("unsub:s"), Sequence: seqOf})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if diff := cmp.Diff([][]string{{"sub:s", "unsub:s", "sub:s"}}, received(srv)); diff != "" {
			t.Errorf("venue (-want +got):\n%s", diff)
		}
		want := []string{"s: Pending -Send-> Subscribing", "s: Subscribing -Ack-> Active",
			"s: Active -Gap-> Resyncing", "s: Resyncing -Ack-> Active"}
		if diff := cmp.Diff(want, subs.steps()); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
		st, _ := c.SubscriptionStatus("s")
		if st.Gaps != 1 || st.Resyncs != 1 || st.Messages != 6 {
			t.Errorf("status %+v, want 6 messages, 1 gap, 1 resync", st)
		}
	})
}

// everyStateVenue answers "sub:K" by K's prefix: "bad" NACKs, "mute"
// never answers, "gap" acks and then skips a number, any other acks.
func everyStateVenue() wsconntest.Option {
	return wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		key, ok := strings.CutPrefix(string(m.Data), "sub:")
		switch {
		case !ok, strings.HasPrefix(key, "mute"):
		case strings.HasPrefix(key, "bad"):
			_ = c.SendText(c.Context(), "nack:"+key)
		case strings.HasPrefix(key, "gap"):
			_ = c.SendText(c.Context(), "ack:"+key)
			_ = c.SendText(c.Context(), "data:"+key+":1")
			_ = c.SendText(c.Context(), "data:"+key+":3")
		default:
			_ = c.SendText(c.Context(), "ack:"+key)
		}
		return true
	}))
}

// TestUnsubscribeInEveryState: the last Unsubscribe in each state leaves
// the venue unsubscribed (an unsubscribe after the subscribe on the
// connection that carried it, nothing if none carried it) and the key
// gone.
func TestUnsubscribeInEveryState(t *testing.T) {
	tests := []struct {
		key   string
		down  bool // the venue is down: the subscription stays Pending
		state subscription.State
		wire  []string
	}{
		{"p", true, subscription.Pending, nil},
		{"mute", false, subscription.Subscribing, []string{"sub:mute", "unsub:mute"}},
		{"a", false, subscription.Active, []string{"sub:a", "unsub:a"}},
		{"gap", false, subscription.Resyncing, []string{"sub:gap", "unsub:gap"}},
		{"bad", false, subscription.Failed, []string{"sub:bad"}},
	}
	for _, tt := range tests {
		t.Run(tt.state.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, everyStateVenue())
				if tt.down {
					srv.Down()
				}
				var rec recorder
				seqRouter := subscription.Router{Acks: true, Route: func(m transport.Message) subscription.Route {
					r := prefixRouter.Route(m)
					r.Key, _, _ = strings.Cut(r.Key, ":")
					return r
				}}
				c := dialTest(t, srv, &rec, WithRouter(seqRouter), WithAckTimeout(3*time.Second),
					WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}))
				if !tt.down {
					waitPhase(t, c, connfsm.Ready)
				}
				s := Subscription{Key: tt.key, Message: []byte("sub:" + tt.key), Unsubscribe: []byte("unsub:" + tt.key),
					Sequence: seqOf, Resync: func(ctx context.Context, _ string) error { <-ctx.Done(); return ctx.Err() }}
				go func() { _ = c.Subscribe(context.Background(), s) }()
				time.Sleep(100 * time.Millisecond)
				synctest.Wait()
				if st, _ := c.SubscriptionStatus(tt.key); st.State != tt.state {
					t.Fatalf("state %v before Unsubscribe, want %v", st.State, tt.state)
				}
				if err := c.Unsubscribe(context.Background(), tt.key); err != nil {
					t.Fatal(err)
				}
				if tt.down {
					up(t, srv)
				}
				time.Sleep(5 * time.Second) // past the ack timeout
				synctest.Wait()
				var wire []string
				for _, conn := range received(srv) {
					wire = append(wire, conn...)
				}
				if diff := cmp.Diff(tt.wire, wire); diff != "" {
					t.Errorf("venue (-want +got):\n%s", diff)
				}
				if st, ok := c.SubscriptionStatus(tt.key); ok {
					t.Errorf("still there: %+v", st)
				}
			})
		})
	}
}

// TestRouterUnderSlowConsumer: under a slow-consumer policy other than
// Block, the inbox's hand-out routes as the reader does: a subscription's
// data goes to its Handler and is counted, OnMessage gets the rest.
func TestRouterUnderSlowConsumer(t *testing.T) {
	for _, p := range []datapath.SlowConsumerPolicy{datapath.DropOldest, datapath.DropNewest, datapath.Disconnect} {
		t.Run(p.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, streamVenue(3))
				var rec recorder
				var msgs messages
				var k keyed
				c := dialTest(t, srv, &rec, WithRouter(prefixRouter), OnMessage(msgs.handle),
					WithSlowConsumer(datapath.SlowConsumer{Policy: p, Inbox: 100}))
				waitPhase(t, c, connfsm.Ready)
				if err := c.Subscribe(context.Background(), Subscription{Key: "a", Message: []byte("sub:a"), Handler: k.handler("a")}); err != nil {
					t.Fatalf("Subscribe(a): %v", err)
				}
				synctest.Wait()
				k.mu.Lock()
				if diff := cmp.Diff(map[string][]string{"a": {"data:a", "data:a", "data:a"}}, k.got); diff != "" {
					t.Errorf("handlers (-want +got):\n%s", diff)
				}
				k.mu.Unlock()
				if diff := cmp.Diff([]string{"news"}, msgs.list()); diff != "" {
					t.Errorf("OnMessage (-want +got):\n%s", diff)
				}
				if st, _ := c.SubscriptionStatus("a"); st.Stats.Messages != 3 {
					t.Errorf("SubscriptionStatus(a).Stats.Messages = %d, want 3", st.Stats.Messages)
				}
			})
		})
	}
}

// TestSlowConsumerWithSubscriptionHandlersOnly: a client whose messages go
// to its subscriptions' Handlers alone, without OnMessage, is under its
// slow-consumer policy too: the reader does not wait for a slow Handler,
// and the policy drops what the inbox cannot hold.
func TestSlowConsumerWithSubscriptionHandlersOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, streamVenue(5))
		var rec recorder
		var mu sync.Mutex
		var got []string
		c := dialTest(t, srv, &rec, WithRouter(prefixRouter),
			WithSlowConsumer(datapath.SlowConsumer{Policy: datapath.DropNewest, Inbox: 1}))
		waitPhase(t, c, connfsm.Ready)
		err := c.Subscribe(context.Background(), Subscription{Key: "a", Message: []byte("sub:a"),
			Handler: func(_ context.Context, m transport.Message) {
				mu.Lock()
				got = append(got, string(m.Data))
				mu.Unlock()
				time.Sleep(time.Second)
			}})
		if err != nil {
			t.Fatalf("Subscribe(a): %v", err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		st := c.Stats()
		mu.Lock()
		defer mu.Unlock()
		// data:a five times, then news: one at a time is handed out and
		// one waits in the inbox; what comes meanwhile is dropped.
		if len(got) == 0 || len(got) > 2 || st.SlowDropped < 3 {
			t.Errorf("Handler got %v, SlowDropped %d; want at most 2 handled, at least 3 dropped", got, st.SlowDropped)
		}
	})
}
