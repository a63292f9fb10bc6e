package otelconnfsm

import (
	"strings"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestPool: a pool of three subscriptions, two per connection, shows two
// Ready connections, three subscriptions, two at most on one.
func TestPool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		provider, reader := newReader(t)
		cs, err := NewClients(WithMeterProvider(provider))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		srv := wsconntest.NewServer(wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
			if stream, ok := strings.CutPrefix(string(m.Data), "sub:"); ok {
				_ = c.SendText(c.Context(), "ack:"+stream)
			}
			return true
		})))
		defer srv.Close()
		stream := func(name string) wsconn.Subscription {
			return wsconn.Subscription{Key: name, Message: []byte("sub:" + name),
				Ack: func(m wsconn.Message) bool { return string(m.Data) == "ack:"+name }}
		}
		p, err := wsconn.NewPool(t.Context(), "ws://venue.test/", wsconn.PoolConfig{MaxPerConn: 2, MaxConns: 4},
			wsconn.WithHTTPClient(srv.Client()), cs.Option(),
			wsconn.WithSubscriptions(stream("a"), stream("b"), stream("c")))
		if err != nil {
			t.Fatal(err)
		}
		unregister, err := ObservePool(p, WithMeterProvider(provider))
		if err != nil {
			t.Fatal(err)
		}
		defer unregister()
		synctest.Wait() // Ready is published before the observers are told
		m := collect(t, reader)
		if err := p.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{
			"connfsm.pool.connections{state=Alive/Ready}":        2,
			"connfsm.pool.connections{state=Alive/Syncing}":      0,
			"connfsm.pool.connections{state=Connecting}":         0,
			"connfsm.pool.connections{state=Reconnecting}":       0,
			"connfsm.pool.connections{state=Closing}":            0,
			"connfsm.pool.connections{state=Closed}":             0,
			"connfsm.pool.subscriptions{}":                       3,
			"connfsm.pool.connection.subscriptions.max{}":        2,
			"connfsm.machines{machine=wsconn,state=Alive/Ready}": 2,
			"connfsm.subscriptions{state=Active}":                3,
		}
		got := only(m, "connfsm.pool")
		for _, k := range []string{"connfsm.machines{machine=wsconn,state=Alive/Ready}", "connfsm.subscriptions{state=Active}"} {
			got[k] = m[k]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pool (-want +got):\n%s", diff)
		}
	})
}
