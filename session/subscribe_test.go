package session

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// slowAckVenue acknowledges "sub:K" with "ack:K" after delay, and
// "unsub:K" with "unacked:K" at once.
func slowAckVenue(delay time.Duration) wsconntest.Option {
	return wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		text := string(m.Data)
		switch {
		case strings.HasPrefix(text, "sub:"):
			key := strings.TrimPrefix(text, "sub:")
			go func() {
				time.Sleep(delay)
				_ = c.SendText(c.Context(), "ack:"+key)
			}()
		case strings.HasPrefix(text, "unsub:"):
			_ = c.SendText(c.Context(), "unacked:"+strings.TrimPrefix(text, "unsub:"))
		}
		return true
	}))
}

// TestUnsubscribeWhileSyncing: a subscription unsubscribed while the
// connection syncs (its subscribe sent, the ack not yet in) is
// unsubscribed at the venue, and a later Subscribe of the key sends it
// again after the unsubscribe: never two subscribes of one key on one
// connection without an unsubscribe between.
func TestUnsubscribeWhileSyncing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, slowAckVenue(time.Second))
		var rec recorder
		c := dialTest(t, srv, &rec, WithSubscriptions(sub("k3")))
		time.Sleep(500 * time.Millisecond) // sub:k3 sent, its ack due at 1s
		synctest.Wait()
		if got := c.Phase(); got != connfsm.Syncing {
			t.Fatalf("phase %v, want Syncing", got)
		}
		ctx := context.Background()
		if err := c.Unsubscribe(ctx, "k3"); err != nil {
			t.Fatalf("Unsubscribe: %v", err)
		}
		waitState(t, c, connfsm.Alive)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if err := c.Subscribe(ctx, sub("k3")); err != nil {
			t.Fatalf("Subscribe again: %v", err)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		want := [][]string{{"sub:k3", "unsub:k3", "sub:k3"}}
		if diff := cmp.Diff(want, received(srv)); diff != "" {
			t.Errorf("what the venue received (-want +got):\n%s", diff)
		}
	})
}

// TestStaleAckAfterUnsubscribe: the ack of a subscribe that comes after
// its Unsubscribe is stale: ignored, with a record saying so, never handed
// to OnMessage; the subscription is then Removed.
func TestStaleAckAfterUnsubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, slowAckVenue(time.Second))
		var rec recorder
		var subs subRecorder
		var msgs messages
		c := dialTest(t, srv, &rec, OnRecord(subs.observe), OnMessage(msgs.handle))
		waitPhase(t, c, connfsm.Ready)
		ctx := context.Background()
		done := make(chan error, 1)
		go func() { done <- c.Subscribe(ctx, sub("k")) }()
		time.Sleep(500 * time.Millisecond)
		if err := c.Unsubscribe(ctx, "k"); err != nil {
			t.Fatalf("Unsubscribe: %v", err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if err := <-done; err != nil {
			t.Errorf("Subscribe = %v, want nil (unsubscribed before its ack)", err)
		}
		if _, ok := subs.find(fsm.RecordIgnored, "k: Unsubscribing -Ack-> Unsubscribing"); !ok {
			t.Errorf("no record of the stale ack; steps %q", subs.steps())
		}
		want := []string{"k: Pending -Send-> Subscribing", "k: Subscribing -Unsubscribe-> Unsubscribing",
			"k: Unsubscribing -Unsubscribed-> Removed"}
		if diff := cmp.Diff(want, subs.steps()); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([][]string{{"sub:k", "unsub:k"}}, received(srv)); diff != "" {
			t.Errorf("venue (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"unacked:k"}, msgs.list()); diff != "" {
			t.Errorf("OnMessage (-want +got):\n%s", diff)
		}
		if len(c.Subscriptions()) != 0 {
			t.Errorf("Subscriptions() = %q, want none", c.Subscriptions())
		}
	})
}

// nackVenue refuses "sub:bad*" as OKX refuses an unknown instrument, and
// acknowledges every other "sub:K".
func nackVenue() wsconntest.Option {
	return wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		key, ok := strings.CutPrefix(string(m.Data), "sub:")
		switch {
		case !ok:
		case strings.HasPrefix(key, "bad"):
			_ = c.SendText(c.Context(), `{"event":"error","code":"60018","arg":"`+key+`"}`)
		default:
			_ = c.SendText(c.Context(), "ack:"+key)
		}
		return true
	}))
}

func nacked(key string, retry bool) Subscription {
	s := sub(key)
	s.Nack = func(m transport.Message) bool {
		return strings.Contains(string(m.Data), `"event":"error"`) && strings.Contains(string(m.Data), `"`+key+`"`)
	}
	s.Retry = retry
	return s
}

// TestNack: a refusal makes the subscription Failed with a
// *SubscriptionError holding the venue's message; without Retry the next
// connection does not send it, with Retry it does, once.
func TestNack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, nackVenue())
		var rec recorder
		var subs subRecorder
		c := dialTest(t, srv, &rec, OnRecord(subs.observe),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}))
		waitPhase(t, c, connfsm.Ready)
		ctx := context.Background()
		err := c.Subscribe(ctx, nacked("bad1", false))
		var se *subscription.Error
		if !errors.As(err, &se) || !errors.Is(err, ErrSubscriptionRefused) || se.Key != "bad1" ||
			string(se.Message) != `{"event":"error","code":"60018","arg":"bad1"}` {
			t.Fatalf("Subscribe(bad1) = %v, want a *SubscriptionError with the venue's message", err)
		}
		if err := c.Subscribe(ctx, nacked("bad2", true)); !errors.Is(err, ErrSubscriptionRefused) {
			t.Fatalf("Subscribe(bad2) = %v, want ErrSubscriptionRefused", err)
		}
		if err := c.Subscribe(ctx, nacked("good", false)); err != nil {
			t.Fatalf("Subscribe(good) = %v", err)
		}
		srv.ResetAll()
		time.Sleep(time.Second)
		synctest.Wait()
		want := [][]string{{"sub:bad1", "sub:bad2", "sub:good"}, {"sub:bad2", "sub:good"}}
		if diff := cmp.Diff(want, received(srv)); diff != "" {
			t.Errorf("venue (-want +got):\n%s", diff)
		}
		if _, ok := subs.find(fsm.RecordTransition, "bad2: Failed -Lost-> Pending"); !ok {
			t.Errorf("bad2 not retried; steps %q", subs.steps())
		}
		if n := rec.Count("Alive-Lost->Reconnecting"); n != 1 {
			t.Errorf("%d Lost, want the reset's alone", n)
		}
	})
}

// TestReferenceCount: two Subscribes of one key send one subscribe; the
// first Unsubscribe sends nothing, the last sends the unsubscribe.
func TestReferenceCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		var rec recorder
		c := dialTest(t, srv, &rec)
		waitPhase(t, c, connfsm.Ready)
		ctx := context.Background()
		for range 2 {
			if err := c.Subscribe(ctx, sub("a")); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Unsubscribe(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if diff := cmp.Diff([][]string{{"sub:a"}}, received(srv)); diff != "" {
			t.Errorf("after one Unsubscribe (-want +got):\n%s", diff)
		}
		if err := c.Unsubscribe(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if diff := cmp.Diff([][]string{{"sub:a", "unsub:a"}}, received(srv)); diff != "" {
			t.Errorf("after the last Unsubscribe (-want +got):\n%s", diff)
		}
	})
}

// TestLostInEachState: subscriptions Active, Subscribing and Pending when
// the connection is lost are each sent exactly once on the next.
func TestLostInEachState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, slowAckVenue(time.Second))
		var rec recorder
		var subs subRecorder
		c := dialTest(t, srv, &rec, OnRecord(subs.observe), WithAckTimeout(5*time.Second),
			WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}))
		waitPhase(t, c, connfsm.Ready)
		ctx := context.Background()
		if err := c.Subscribe(ctx, sub("active")); err != nil {
			t.Fatal(err)
		}
		go func() { _ = c.Subscribe(ctx, sub("subscribing")) }()
		time.Sleep(100 * time.Millisecond)
		srv.ResetAll()
		waitState(t, c, connfsm.Reconnecting)
		if err := c.Subscribe(ctx, sub("pending")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		want := [][]string{{"sub:active", "sub:subscribing"}, {"sub:active", "sub:subscribing", "sub:pending"}}
		if diff := cmp.Diff(want, received(srv)); diff != "" {
			t.Errorf("venue (-want +got):\n%s", diff)
		}
		for _, name := range []string{"active: Active -Lost-> Pending", "subscribing: Subscribing -Lost-> Pending"} {
			if _, ok := subs.find(fsm.RecordTransition, name); !ok {
				t.Errorf("no %s; steps %q", name, subs.steps())
			}
		}
		if p := subs.problems(); len(p) > 0 {
			t.Errorf("rejected: %q", p)
		}
	})
}

// TestMatcherPanics: an Ack matcher that panics fails its subscription,
// not the connection's reader.
func TestMatcherPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		var rec recorder
		c := dialTest(t, srv, &rec)
		waitPhase(t, c, connfsm.Ready)
		bad := sub("p")
		bad.Ack = func(transport.Message) bool { panic("matcher bug") }
		err := c.Subscribe(context.Background(), bad)
		var pe *tasks.PanicError
		if !errors.As(err, &pe) {
			t.Errorf("Subscribe = %v, want the matcher's *tasks.PanicError", err)
		}
		if err := c.Subscribe(context.Background(), sub("ok")); err != nil {
			t.Errorf("the next Subscribe = %v: the reader must live on", err)
		}
		if n := rec.Count("Alive-Lost->Reconnecting"); n != 0 {
			t.Errorf("%d Lost, want none", n)
		}
	})
}

// TestBadSubscription: bad input is an error matching ErrBadSubscription,
// naming what is wrong.
func TestBadSubscription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		c := dialTest(t, srv, &rec)
		tests := []struct {
			name string
			sub  Subscription
			want string
		}{
			{"empty key", Subscription{Message: []byte("x")}, "empty key"},
			{"nil message", Subscription{Key: "k"}, `"k": nil message`},
			{"unknown type", Subscription{Key: "k", Message: []byte("x"), Type: 9}, "message type 9"},
		}
		for _, tt := range tests {
			err := c.Subscribe(context.Background(), tt.sub)
			if !errors.Is(err, ErrBadSubscription) || !strings.Contains(fmt.Sprint(err), tt.want) {
				t.Errorf("%s: Subscribe = %v, want ErrBadSubscription naming %q", tt.name, err, tt.want)
			}
		}
	})
}

func waitPhase(t *testing.T, c *Client, want connfsm.State) {
	t.Helper()
	for range 1000 {
		synctest.Wait()
		if c.Phase() == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("phase = %v, want %v", c.Phase(), want)
}

// TestOnConnectDoc: OnConnect's doc must not send users to resubscribe
// there (Subscribe replays every subscription on every connection, and a
// resubscription in OnConnect would subscribe twice), and must say so.
func TestOnConnectDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "options.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "OnConnect" {
			continue
		}
		doc := fd.Doc.Text()
		if strings.Contains(strings.ToLower(doc), "resubscribe here") {
			t.Errorf("OnConnect's doc tells users to resubscribe:\n%s", doc)
		}
		if !strings.Contains(doc, "Subscribe") || !strings.Contains(doc, "twice") {
			t.Errorf("OnConnect's doc does not say that Subscribe replays the subscriptions:\n%s", doc)
		}
		return
	}
	t.Fatal("no OnConnect in options.go")
}

// TestSubscribeFromHandler: a Subscribe made by the message handler gets
// its ack: the connection is read ahead while the handler waits.
func TestSubscribeFromHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		var rec recorder
		var c *Client
		got := make(chan error, 1)
		ready := make(chan struct{})
		c = dialTest(t, srv, &rec, WithAckTimeout(5*time.Second), OnMessage(func(ctx context.Context, m transport.Message) {
			if string(m.Data) == "go" {
				<-ready
				got <- c.Subscribe(ctx, sub("h"))
			}
		}))
		close(ready)
		waitPhase(t, c, connfsm.Ready)
		for _, conn := range srv.Conns() {
			_ = conn.SendText(context.Background(), "go")
		}
		select {
		case err := <-got:
			if err != nil {
				t.Errorf("Subscribe from the handler = %v, want nil", err)
			}
		case <-time.After(time.Second):
			t.Error("Subscribe from the handler got no ack within 1s")
		}
	})
}
