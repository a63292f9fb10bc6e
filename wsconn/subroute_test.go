package wsconn

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/wsconn/subscription"
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
var prefixRouter = Router{Acks: true, Route: func(m Message) Route {
	kind, key, ok := strings.Cut(string(m.Data), ":")
	if !ok {
		return Route{}
	}
	switch kind {
	case "ack":
		return Route{Key: key, Kind: Acked}
	case "nack":
		return Route{Key: key, Kind: Refused}
	case "data":
		return Route{Key: key, Kind: Data}
	}
	return Route{}
}}

type keyed struct {
	mu  sync.Mutex
	got map[string][]string
}

func (k *keyed) handler(key string) func(context.Context, Message) {
	return func(_ context.Context, m Message) {
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
		var se *SubscriptionError
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
		wantSt := SubscriptionStatus{Key: "a", State: subscription.Active, Holders: 1,
			SubscriptionStats: SubscriptionStats{Messages: 3, LastMessage: time.Now()}}
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
