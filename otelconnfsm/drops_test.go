package otelconnfsm

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestDropsByPolicy: a venue pushes 20 messages 10 ms apart to a handler
// that takes 100 ms each; what the slow-consumer policy drops is counted
// under its name, and every message handed over is one handler call.
func TestDropsByPolicy(t *testing.T) {
	const total = 20
	key := func(m wsconn.Message) string { n, _ := strconv.Atoi(string(m.Data[1:])); return strconv.Itoa(n % 2) }
	tests := []struct {
		policy wsconn.SlowConsumer
		label  string
	}{
		{wsconn.SlowConsumer{Policy: wsconn.DropNewest, Inbox: 3}, "drop-newest"},
		{wsconn.SlowConsumer{Policy: wsconn.DropOldest, Inbox: 3}, "drop-oldest"},
		{wsconn.SlowConsumer{Policy: wsconn.Conflate, Inbox: 2, Key: key}, "conflate"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				provider, reader := newReader(t)
				cs, err := NewClients(WithMeterProvider(provider))
				if err != nil {
					t.Fatal(err)
				}
				defer cs.Close()
				srv := wsconntest.NewServer(wsconntest.Default(wsconntest.Discard(),
					wsconntest.Push(10*time.Millisecond, func(n int) wsconntest.Message {
						if n > total {
							return wsconntest.Message{}
						}
						return wsconntest.Text(fmt.Sprintf("m%d", n))
					})))
				defer srv.Close()
				handled := 0
				c, err := wsconn.Dial(t.Context(), "ws://venue.test/", wsconn.WithHTTPClient(srv.Client()), cs.Option(),
					wsconn.WithSlowConsumer(tt.policy),
					wsconn.OnMessage(func(context.Context, wsconn.Message) { handled++; time.Sleep(100 * time.Millisecond) }))
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Second)
				synctest.Wait()
				st := c.Stats()
				m := collect(t, reader)
				if err := c.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
				want := map[string]float64{
					"connfsm.messages.dropped{policy=drop-newest}": 0,
					"connfsm.messages.dropped{policy=drop-oldest}": 0,
					"connfsm.messages.dropped{policy=conflate}":    0,
					"connfsm.messages.dropped{policy=ended}":       0,
					"connfsm.messages.dropped{policy=unsent}":      0,
					"connfsm.handler.lag{}#count":                  float64(handled),
				}
				want["connfsm.messages.dropped{policy="+tt.label+"}"] = float64(total - handled)
				got := only(m, "connfsm.messages.dropped")
				got["connfsm.handler.lag{}#count"] = m["connfsm.handler.lag{}#count"]
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("drops (-want +got):\n%s", diff)
				}
				if st.SlowDropped+st.Conflated == 0 {
					t.Errorf("the policy dropped nothing")
				}
			})
		})
	}
}
