package wsconn_test

import (
	"context"
	"fmt"
	"log"
	"strconv"
	"strings"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// A subscription's life: subscribed, acknowledged, a sequence gap, and the
// resync (an unsubscribe and a subscribe) that restarts the stream. The
// venue numbers each stream's messages and skips 3 on its first
// subscribe.
func ExampleSubscription_gap() {
	subs := 0
	srv := wsconntest.NewServer(wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		key, ok := strings.CutPrefix(string(m.Data), "sub:")
		if !ok {
			return true
		}
		subs++
		_ = c.SendText(c.Context(), "ack:"+key)
		seqs := []int{1, 2, 4} // 3 is lost
		if subs > 1 {
			seqs = []int{10, 11}
		}
		for _, n := range seqs {
			_ = c.SendText(c.Context(), fmt.Sprintf("data:%s:%d", key, n))
		}
		return true
	})))
	defer srv.Close()

	resynced := make(chan struct{})
	handled := make(chan struct{}, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, "ws://venue.test/", wsconn.WithHTTPClient(srv.Client()),
		// One map lookup routes each message to its subscription.
		wsconn.WithRouter(wsconn.Router{Acks: true, Route: func(m wsconn.Message) wsconn.Route {
			kind, rest, _ := strings.Cut(string(m.Data), ":")
			key, _, _ := strings.Cut(rest, ":")
			switch kind {
			case "ack":
				return wsconn.Route{Key: key, Kind: wsconn.Acked}
			case "data":
				return wsconn.Route{Key: key, Kind: wsconn.Data}
			}
			return wsconn.Route{}
		}}),
		wsconn.OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
			if sr, ok := r.Payload.(*wsconn.SubscriptionRecord); ok && sr.Kind == fsm.RecordTransition {
				fmt.Println(sr)
				if sr.From.String() == "Resyncing" {
					close(resynced)
				}
			}
		}),
	)
	if err != nil {
		log.Fatal(err)
	}

	err = c.Subscribe(ctx, wsconn.Subscription{
		Key:         "BTC",
		Message:     []byte("sub:BTC"),
		Unsubscribe: []byte("unsub:BTC"),
		Sequence: func(m wsconn.Message) (uint64, bool) {
			i := strings.LastIndexByte(string(m.Data), ':')
			n, err := strconv.ParseUint(string(m.Data[i+1:]), 10, 64)
			return n, err == nil
		},
		Handler: func(context.Context, wsconn.Message) { handled <- struct{}{} },
	})
	if err != nil {
		log.Fatal(err)
	}
	<-resynced
	for range 5 { // 1, 2, 4 (after which it resyncs), 10, 11
		<-handled
	}
	st, _ := c.SubscriptionStatus("BTC")
	fmt.Printf("%v: %d messages, %d gap, %d resync\n", st.State, st.Messages, st.Gaps, st.Resyncs)
	if err := c.Close(context.Background()); err != nil {
		log.Fatal(err)
	}
	// Output:
	// BTC: Pending -Send-> Subscribing
	// BTC: Subscribing -Ack-> Active
	// BTC: Active -Gap-> Resyncing
	// BTC: Resyncing -Ack-> Active
	// Active: 5 messages, 1 gap, 1 resync
	// BTC: Active -Lost-> Pending
}
