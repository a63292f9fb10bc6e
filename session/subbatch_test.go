package session

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// batchVenue takes "sub:K1,K2" and answers each key: "nack:K" for a key
// starting with "bad", "ack:K" otherwise.
func batchVenue() wsconntest.Option {
	return wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		list, ok := strings.CutPrefix(string(m.Data), "sub:")
		if !ok {
			return true
		}
		for _, k := range strings.Split(list, ",") {
			if strings.HasPrefix(k, "bad") {
				_ = c.SendText(c.Context(), "nack:"+k)
			} else {
				_ = c.SendText(c.Context(), "ack:"+k)
			}
		}
		return true
	}))
}

// TestBatch: the replay sends its subscriptions in messages of up to
// Batch.Max keys, acks and NACKs resolve per key, and UnsubscribeAll
// unsubscribes in batches too.
func TestBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, batchVenue())
		var rec recorder
		batch := Batch{Max: 2,
			Subscribe:   func(keys []string) []byte { return []byte("sub:" + strings.Join(keys, ",")) },
			Unsubscribe: func(keys []string) []byte { return []byte("unsub:" + strings.Join(keys, ",")) },
		}
		var subs []Subscription
		for _, k := range []string{"a", "b", "bad", "c", "d"} {
			subs = append(subs, Subscription{Key: k, Message: []byte("sub:" + k)})
		}
		c := dialTest(t, srv, &rec, WithRouter(prefixRouter), WithBatch(batch), WithSubscriptions(subs...))
		waitPhase(t, c, connfsm.Ready)
		got := map[string]subscription.State{}
		for _, k := range []string{"a", "b", "bad", "c", "d"} {
			st, _ := c.SubscriptionStatus(k)
			got[k] = st.State
		}
		want := map[string]subscription.State{"a": subscription.Active, "b": subscription.Active,
			"bad": subscription.Failed, "c": subscription.Active, "d": subscription.Active}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
		if err := c.UnsubscribeAll(context.Background(), "a", "b", "c"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		wantWire := [][]string{{"sub:a,b", "sub:bad,c", "sub:d", "unsub:a,b", "unsub:c"}}
		if diff := cmp.Diff(wantWire, received(srv)); diff != "" {
			t.Errorf("venue (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"bad", "d"}, c.Subscriptions()); diff != "" {
			t.Errorf("Subscriptions (-want +got):\n%s", diff)
		}
	})
}
