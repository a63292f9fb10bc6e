package otelconnfsm

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/tcpconn"
	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// venue is an in-memory venue whose first connection echoes and is reset
// after a second, whose second dial is refused with Retry-After: 5 (longer
// than any backoff wait before it), and whose later connections echo.
func venue(t *testing.T) *wsconntest.Server {
	t.Helper()
	srv := wsconntest.NewServer(wsconntest.Script(
		wsconntest.Plan{wsconntest.Echo(), wsconntest.After(time.Second, wsconntest.Reset())},
		wsconntest.Plan{wsconntest.Refuse(http.StatusServiceUnavailable, http.Header{"Retry-After": {"5"}})},
	), wsconntest.Default(wsconntest.Echo()))
	t.Cleanup(srv.Close)
	return srv
}

// echo sends text and waits for its echo.
func echo(t *testing.T, c *wsconn.Client, got <-chan string, text string) {
	t.Helper()
	if err := c.SendText(t.Context(), text); err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
	select {
	case m := <-got:
		if m != text {
			t.Fatalf("echo %q, want %q", m, text)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no echo of %q", text)
	}
}

// TestClientTimeline: a client reset once and refused once with
// Retry-After shows it in its counters, and its messages and bytes.
func TestClientTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		provider, reader := newReader(t)
		cs, err := NewClients(WithMeterProvider(provider))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		srv := venue(t)
		got := make(chan string, 1)
		ready := make(chan struct{}, 4)
		c, err := wsconn.Dial(t.Context(), "ws://venue.test/feed", wsconn.WithHTTPClient(srv.Client()),
			wsconn.WithHeartbeat(300*time.Millisecond, time.Second), cs.Option(),
			wsconn.OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
				if r.Kind != fsm.RecordTransition {
					return
				}
				if r.To == connfsm.Ready {
					ready <- struct{}{}
				}
			}),
			wsconn.OnMessage(func(_ context.Context, m wsconn.Message) { got <- string(m.Data) }))
		if err != nil {
			t.Fatal(err)
		}
		<-ready
		echo(t, c, got, "one")
		<-ready // after the reset, the refusal and Retry-After
		echo(t, c, got, "three")
		if err := c.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		m := collect(t, reader)
		want := map[string]float64{
			"connfsm.messages.received{}":                        2,
			"connfsm.messages.sent{}":                            2,
			"connfsm.bytes.received{}":                           8,
			"connfsm.bytes.sent{}":                               8,
			"connfsm.messages.dropped{policy=unsent}":            0,
			"connfsm.sends.buffered{}":                           0,
			"connfsm.dial.waits{reason=backoff}":                 1,
			"connfsm.dial.waits{reason=retry_after}":             1,
			"connfsm.connections.lost{cause=eof}":                1,
			"connfsm.handler.duration{}#count":                   2,
			"connfsm.handler.lag{}#count":                        2,
			"connfsm.machines{machine=wsconn,state=Alive/Ready}": 0,
		}
		gotSome := map[string]float64{}
		for k := range want {
			gotSome[k] = m[k]
		}
		if diff := cmp.Diff(want, gotSome); diff != "" {
			t.Errorf("metrics (-want +got):\n%s", diff)
		}
		if m["connfsm.ping.rtt{}#count"] == 0 {
			t.Errorf("no ping round trip recorded")
		}
	})
}

// TestClientAttachTwice: a client has one probe, and a probe refuses a
// client it measures already.
func TestClientAttachTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		provider, _ := newReader(t)
		cs, err := NewClients(WithMeterProvider(provider))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		srv := venue(t)
		_, err = wsconn.Dial(t.Context(), "ws://venue.test/", wsconn.WithHTTPClient(srv.Client()), cs.Option(), cs.Option())
		if !errors.Is(err, wsconn.ErrInvalidConfig) {
			t.Errorf("Dial with the option twice: %v, want a configuration error", err)
		}
		if _, err := NewClients(WithMeterProvider(provider)); !errors.Is(err, ErrAttached) {
			t.Errorf("second NewClients on one provider: %v, want ErrAttached", err)
		}
		// Under another label too: the clients' counters carry no machine
		// label, and two callbacks would report the same series.
		if _, err := NewClients(WithMeterProvider(provider), WithClientMachine(TCPClientMachine)); !errors.Is(err, ErrAttached) {
			t.Errorf("second NewClients on one provider, labelled %s: %v, want ErrAttached", TCPClientMachine, err)
		}
	})
}

// TestClientsCloseReleasesOnce: Close gives the provider back for another
// Clients, and a second Close of the first does not free the second's
// claim.
func TestClientsCloseReleasesOnce(t *testing.T) {
	provider, _ := newReader(t)
	first, err := NewClients(WithMeterProvider(provider))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := NewClients(WithMeterProvider(provider), WithClientMachine(TCPClientMachine))
	if err != nil {
		t.Fatalf("NewClients after Close: %v", err)
	}
	defer second.Close()
	_ = first.Close() // again: the second keeps its claim
	for _, opts := range [][]Option{{WithMeterProvider(provider)}, {WithMeterProvider(provider), WithClientMachine(TCPClientMachine)}} {
		if _, err := NewClients(opts...); !errors.Is(err, ErrAttached) {
			t.Errorf("NewClients beside the second: %v, want ErrAttached", err)
		}
	}
}

// TestSubscriptionsByState: subscriptions acknowledged by the venue are
// Active in the gauge; an ended client's are counted out.
func TestSubscriptionsByState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		provider, reader := newReader(t)
		cs, err := NewClients(WithMeterProvider(provider))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		srv := wsconntest.NewServer() // echoes: the subscribe message is its own ack
		defer srv.Close()
		sub := func(key string) wsconn.Subscription {
			return wsconn.Subscription{Key: key, Message: []byte("sub:" + key),
				Ack: func(m wsconn.Message) bool { return string(m.Data) == "sub:"+key }}
		}
		c, err := wsconn.Dial(t.Context(), "ws://venue.test/", wsconn.WithHTTPClient(srv.Client()), cs.Option(),
			wsconn.WithSubscriptions(sub("a"), sub("b")))
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the subscriptions' last records are told after Dial returns
		gauge := func() map[string]float64 { return only(collect(t, reader), "connfsm.subscriptions") }
		want := map[string]float64{
			"connfsm.subscriptions{state=Pending}": 0, "connfsm.subscriptions{state=Subscribing}": 0,
			"connfsm.subscriptions{state=Active}": 2, "connfsm.subscriptions{state=Resyncing}": 0,
			"connfsm.subscriptions{state=Unsubscribing}": 0, "connfsm.subscriptions{state=Failed}": 0,
		}
		if diff := cmp.Diff(want, gauge()); diff != "" {
			t.Errorf("when Ready (-want +got):\n%s", diff)
		}
		if err := c.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		want["connfsm.subscriptions{state=Active}"] = 0
		if diff := cmp.Diff(want, gauge()); diff != "" {
			t.Errorf("after Close (-want +got):\n%s", diff)
		}
	})
}

// TestSendsBuffered: sends kept while the venue refuses every dial are
// counted as buffered, and as unsent once the client closes without
// having sent them.
func TestSendsBuffered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		provider, reader := newReader(t)
		cs, err := NewClients(WithMeterProvider(provider))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		srv := wsconntest.NewServer(wsconntest.Default(wsconntest.Refuse(http.StatusServiceUnavailable, nil)))
		defer srv.Close()
		c, err := wsconn.Dial(t.Context(), "ws://venue.test/", wsconn.WithHTTPClient(srv.Client()), cs.Option(),
			wsconn.NoWait(), wsconn.WithSendPolicy(wsconn.SendPolicy{Buffer: 4}))
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"a", "b"} {
			if err := c.SendText(t.Context(), text); err != nil {
				t.Fatal(err)
			}
		}
		if got := collect(t, reader)["connfsm.sends.buffered{}"]; got != 2 {
			t.Errorf("buffered: %v, want 2", got)
		}
		_ = c.Close(t.Context()) // ErrUnsent: the two were never written
		m := collect(t, reader)
		if got, unsent := m["connfsm.sends.buffered{}"], m["connfsm.messages.dropped{policy=unsent}"]; got != 0 || unsent != 2 {
			t.Errorf("after Close: buffered %v, unsent %v; want 0, 2", got, unsent)
		}
	})
}

// TestClientMachineLabel: the clients' lifecycle is labelled wsconn by
// default and as WithClientMachine says, so that a tcpconn client is not
// counted as a WebSocket one.
func TestClientMachineLabel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []Option
		tcp   bool
		label string
	}{
		{"wsconn by default", nil, false, ClientMachine},
		{"tcpconn", []Option{WithClientMachine(TCPClientMachine)}, true, "tcpconn"},
		{"empty keeps the default", []Option{WithClientMachine("")}, false, ClientMachine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				provider, reader := newReader(t)
				cs, err := NewClients(append(tc.opts, WithMeterProvider(provider))...)
				if err != nil {
					t.Fatal(err)
				}
				defer cs.Close()
				var c *session.Client
				if tc.tcp {
					srv := tcpconntest.NewServer()
					defer srv.Close()
					c, err = tcpconn.Dial(t.Context(), "tcp://venue.test:1", tcpconn.WithDialer(srv.DialContext), cs.Option())
				} else {
					srv := wsconntest.NewServer()
					defer srv.Close()
					c, err = wsconn.Dial(t.Context(), "ws://venue.test/", wsconn.WithHTTPClient(srv.Client()), cs.Option())
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Ready(t.Context()); err != nil {
					t.Fatal(err)
				}
				synctest.Wait() // the observer has recorded the step into Ready
				inState := map[string]float64{}
				for k, v := range only(collect(t, reader), "connfsm.machines{") {
					if v > 0 {
						inState[k] = v
					}
				}
				want := map[string]float64{"connfsm.machines{machine=" + tc.label + ",state=Alive/Ready}": 1}
				if diff := cmp.Diff(want, inState); diff != "" {
					t.Errorf("machines in a state (-want +got):\n%s", diff)
				}
				if err := c.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
