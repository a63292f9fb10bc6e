package bench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// nSubs is BenchmarkSubscriptions' count: a venue connection's worth many
// times over.
var nSubs = 100_000

// subKey is the i-th 32-byte key.
func subKey(i int) string { return fmt.Sprintf("%032d", i) }

// pad64 pads s to 64 bytes: the subscribe and unsubscribe messages' size.
func pad64(s string) []byte { return []byte(fmt.Sprintf("%-64s", s)) }

// entry is what a hand-written registry keeps per subscription: the same
// data a subscription holds (key, messages, a state byte, a reference
// count).
type entry struct {
	key        string
	sub, unsub []byte
	state      uint8
	refs       int32
}

// ackRoute is the Router both sides use: "ack:KEY" acknowledges KEY.
func ackRoute(m wsconn.Message) wsconn.Route {
	if key, ok := strings.CutPrefix(string(m.Data), "ack:"); ok {
		return wsconn.Route{Key: key, Kind: wsconn.Acked}
	}
	return wsconn.Route{}
}

// heapNow returns the live heap after a collection.
func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkSubscriptions holds 100,000 subscriptions (32-byte keys, 64-byte
// subscribe and unsubscribe messages) two ways, side by side: a
// hand-written registry (a map of entries over a bare coder/websocket
// connection) and a wsconn client, whose subscriptions are machines.
// B/sub is the live heap per subscription; ack-ns/sub the time from the
// dial until every one is acknowledged by the same in-memory venue, the
// subscribes batched 1000 keys a message, each ack routed by the same
// function: for the registry a map lookup and a state byte, for the
// client a map lookup and a step of its machine.
func BenchmarkSubscriptions(b *testing.B) {
	b.Run("registry", func(b *testing.B) {
		for b.Loop() {
			benchRegistry(b)
		}
	})
	b.Run("client", func(b *testing.B) {
		for b.Loop() {
			benchClient(b)
		}
	})
}

// ackVenue is the in-memory venue both sides subscribe at: it takes
// "sub:K1,K2,..." and acknowledges each key with "ack:K".
func ackVenue() *wsconntest.Server {
	return wsconntest.NewServer(wsconntest.WithoutRecording(), wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		list, ok := strings.CutPrefix(string(m.Data), "sub:")
		if !ok {
			return true
		}
		for _, k := range strings.Split(list, ",") {
			_ = c.SendText(c.Context(), "ack:"+k)
		}
		return true
	})))
}

// batchMax is the keys per subscribe message, both sides.
const batchMax = 1000

// benchRegistry holds nSubs entries in a map, then subscribes them over
// one coder/websocket connection to the venue, batchMax keys a message,
// and reads the acks: a route, a map lookup and a state byte each.
func benchRegistry(b *testing.B) {
	srv := ackVenue()
	defer srv.Close()
	before := heapNow()
	reg := make(map[string]*entry, nSubs)
	keys := make([]string, 0, nSubs)
	for i := range nSubs {
		k := subKey(i)
		reg[k] = &entry{key: k, sub: pad64("sub:" + k), unsub: pad64("unsub:" + k), refs: 1}
		keys = append(keys, k)
	}
	b.ReportMetric(float64(heapNow()-before)/float64(nSubs), "B/sub")
	ctx := context.Background()
	start := time.Now()
	conn, _, err := websocket.Dial(ctx, "ws://venue.test/", &websocket.DialOptions{HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(-1)
	go func() {
		for i := 0; i < len(keys); i += batchMax {
			if conn.Write(ctx, websocket.MessageText, []byte("sub:"+strings.Join(keys[i:min(i+batchMax, len(keys))], ","))) != nil {
				return
			}
		}
	}()
	for acked := 0; acked < nSubs; {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if r := ackRoute(wsconn.Message{Type: wsconn.MessageType(typ), Data: data}); r.Kind == wsconn.Acked {
			if e := reg[r.Key]; e != nil && e.state == 0 {
				e.state = 1
				acked++
			}
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(nSubs), "ack-ns/sub")
	runtime.KeepAlive(reg)
}

// benchClient registers nSubs subscriptions on a client whose venue is
// down (B/sub: machines Pending), then brings the venue up and times
// until every one is Active.
func benchClient(b *testing.B) {
	srv := ackVenue()
	defer srv.Close()
	srv.Down()
	subs := make([]wsconn.Subscription, nSubs)
	for i := range subs {
		k := subKey(i)
		subs[i] = wsconn.Subscription{Key: k, Message: pad64("sub:" + k), Unsubscribe: pad64("unsub:" + k)}
	}
	before := heapNow()
	c, err := wsconn.Dial(context.Background(), "ws://venue.test/", wsconn.NoWait(),
		wsconn.WithHTTPClient(srv.Client()), wsconn.WithSubscriptions(subs...),
		wsconn.WithBackoff(wsconn.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 2}),
		wsconn.WithAckTimeout(time.Minute), wsconn.WithStormGuard(wsconn.StormGuard{}), // it dials every ms while down
		wsconn.WithRouter(wsconn.Router{Route: ackRoute, Acks: true}),
		wsconn.WithBatch(wsconn.Batch{Max: batchMax, Subscribe: func(keys []string) []byte {
			return []byte("sub:" + strings.Join(keys, ","))
		}}))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(context.Background())
	subs = nil
	b.ReportMetric(float64(heapNow()-before)/float64(nSubs), "B/sub")
	start := time.Now()
	if err := srv.Up(); err != nil {
		b.Fatal(err)
	}
	last := subKey(nSubs - 1)
	for {
		if st, _ := c.SubscriptionStatus(last); st.State == subscription.Active {
			break
		}
		if time.Since(start) > time.Minute {
			b.Fatal("the subscriptions were not all Active within a minute")
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(nSubs), "ack-ns/sub")
}
