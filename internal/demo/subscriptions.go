package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// subVenue acknowledges "sub:K" with "ack:K", refuses the key "BAD" with
// "nack:BAD", and keeps how many times each connection subscribed each
// key.
type subVenue struct {
	mu    sync.Mutex
	conns []*wsconntest.Conn
	subs  map[*wsconntest.Conn]map[string]int
}

func (v *subVenue) message(c *wsconntest.Conn, m wsconntest.Message) bool {
	key, ok := strings.CutPrefix(string(m.Data), "sub:")
	if !ok {
		return true
	}
	v.mu.Lock()
	if v.subs[c] == nil {
		v.subs[c] = map[string]int{}
		v.conns = append(v.conns, c)
	}
	v.subs[c][key]++
	v.mu.Unlock()
	reply := "ack:" + key
	if key == "BAD" {
		reply = "nack:" + key
	}
	_ = c.SendText(c.Context(), reply)
	return true
}

// perConn returns, per connection in order, how many times each key was
// subscribed on it.
func (v *subVenue) perConn() []map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []map[string]int
	for _, c := range v.conns {
		out = append(out, v.subs[c])
	}
	return out
}

// subscriptionScene: a client with two subscriptions and a third the
// venue refuses, across a reset. The refused one fails alone and is not
// sent again; the two are sent again, once, on the next connection.
func (d *demo) subscriptionScene() error {
	v := &subVenue{subs: map[*wsconntest.Conn]map[string]int{}}
	srv, err := wsconntest.NewTCPServer("127.0.0.1:0", wsconntest.WithoutRecording(), wsconntest.Default(wsconntest.OnMessage(v.message)))
	if err != nil {
		return err
	}
	defer srv.Close()
	sub := func(key string) wsconn.Subscription {
		return wsconn.Subscription{Key: key, Message: []byte("sub:" + key), Unsubscribe: []byte("unsub:" + key)}
	}
	route := func(m wsconn.Message) wsconn.Route {
		kind, key, _ := strings.Cut(string(m.Data), ":")
		switch kind {
		case "ack":
			return wsconn.Route{Key: key, Kind: wsconn.Acked}
		case "nack":
			return wsconn.Route{Key: key, Kind: wsconn.Refused}
		}
		return wsconn.Route{}
	}
	ready := make(chan struct{}, 4)
	c, err := wsconn.Dial(context.Background(), srv.URL+"/",
		wsconn.WithBackoff(wsconn.Backoff{Initial: 50 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2}),
		wsconn.WithRouter(wsconn.Router{Route: route, Acks: true}),
		wsconn.WithSubscriptions(sub("BTC"), sub("ETH"), sub("BAD")),
		// The subscriptions' steps go to the timeline; this client's own
		// lifecycle is the scene's, not the demo's.
		wsconn.OnRecord(func(ctx context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
			if r.Kind == wsconn.RecordSubscription {
				d.tl.Observe(ctx, r)
			}
			if r.Kind == fsm.RecordTransition && r.Event == connfsm.Synced {
				ready <- struct{}{}
			}
		}))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	if err := d.await(ready, "the first connection to be Ready"); err != nil {
		return err
	}
	srv.ResetAll()
	if err := d.await(ready, "the connection after the reset to be Ready"); err != nil {
		return err
	}
	want := []map[string]int{{"BTC": 1, "ETH": 1, "BAD": 1}, {"BTC": 1, "ETH": 1}}
	got := v.perConn()
	d.check("each key subscribed exactly once per connection", fmt.Sprint(want) == fmt.Sprint(got),
		fmt.Sprintf("per connection %v (the refused BAD not sent again)", got))
	var states []string
	for _, k := range []string{"BTC", "ETH", "BAD"} {
		st, _ := c.SubscriptionStatus(k)
		states = append(states, k+" "+st.State.String())
	}
	d.check("states after the reset", slices.Equal(states, []string{"BTC Active", "ETH Active", "BAD " + subscription.Failed.String()}),
		strings.Join(states, ", "))
	return nil
}

// await waits for a signal on ch, up to the scene's timeout.
func (d *demo) await(ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-time.After(demoSceneTimeout):
		return fmt.Errorf("waited %v for %s", demoSceneTimeout, what)
	case <-d.ctx.Done():
		return context.Cause(d.ctx)
	}
}
