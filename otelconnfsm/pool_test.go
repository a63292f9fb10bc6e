package otelconnfsm

import (
	"errors"
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

// TestObservePoolOnce: the pool's gauges carry no label of the pool's, so
// one provider reports one pool: a second ObservePool (the same pool
// again, or another) is refused with ErrAttached until the first is
// unregistered, and unregistering twice frees nothing a later claim holds.
func TestObservePoolOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		provider, _ := newReader(t)
		srv := wsconntest.NewServer(wsconntest.Default())
		defer srv.Close()
		pool := func() *wsconn.Pool {
			p, err := wsconn.NewPool(t.Context(), "ws://venue.test/", wsconn.PoolConfig{MaxPerConn: 1, MaxConns: 1},
				wsconn.WithHTTPClient(srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close(t.Context()) })
			return p
		}
		p1, p2 := pool(), pool()
		unregister, err := ObservePool(p1, WithMeterProvider(provider))
		if err != nil {
			t.Fatal(err)
		}
		for name, p := range map[string]*wsconn.Pool{"the same pool": p1, "another pool": p2} {
			if _, err := ObservePool(p, WithMeterProvider(provider)); !errors.Is(err, ErrAttached) {
				t.Errorf("ObservePool of %s on the same provider: %v, want ErrAttached", name, err)
			}
		}
		if err := unregister(); err != nil {
			t.Fatal(err)
		}
		again, err := ObservePool(p2, WithMeterProvider(provider))
		if err != nil {
			t.Fatalf("ObservePool after unregister: %v", err)
		}
		_ = unregister() // the first's, again: must not free the second's claim
		if _, err := ObservePool(p1, WithMeterProvider(provider)); !errors.Is(err, ErrAttached) {
			t.Errorf("ObservePool after a second unregister of the first: %v, want ErrAttached", err)
		}
		if err := again(); err != nil {
			t.Fatal(err)
		}
	})
}
