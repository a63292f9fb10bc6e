package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/subscription"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// ackingVenue acknowledges "sub:K" with "ack:K" (unless K is in mute),
// answers "req:N" with a noise message then "resp:N", and echoes nothing
// else.
func ackingVenue(mute ...string) wsconntest.Option {
	return wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		text := string(m.Data)
		switch {
		case strings.HasPrefix(text, "sub:"):
			key := strings.TrimPrefix(text, "sub:")
			for _, k := range mute {
				if k == key {
					return true
				}
			}
			_ = c.SendText(c.Context(), "ack:"+key)
		case strings.HasPrefix(text, "req:"):
			_ = c.SendText(c.Context(), "noise")
			_ = c.SendText(c.Context(), "resp:"+strings.TrimPrefix(text, "req:"))
		}
		return true
	}))
}

func sub(key string) Subscription {
	return Subscription{
		Key:         key,
		Message:     []byte("sub:" + key),
		Unsubscribe: []byte("unsub:" + key),
		Ack:         func(m transport.Message) bool { return string(m.Data) == "ack:"+key },
	}
}

// TestSubscriptionsSurviveReconnects: subscriptions made while Ready are
// sent at once and acked; every new connection replays them all, in
// order, before the user's sends; the acks never reach OnMessage; an
// unsubscribed key is no longer replayed; a duplicate key sends nothing.
func TestSubscriptionsSurviveReconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		var rec recorder
		var msgs messages
		c := dialTest(t, srv, &rec, OnMessage(msgs.handle),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}))
		ctx := context.Background()
		for _, k := range []string{"a", "b", "c"} {
			if err := c.Subscribe(ctx, sub(k)); err != nil {
				t.Fatalf("Subscribe(%s): %v", k, err)
			}
		}
		if err := c.Subscribe(ctx, sub("a")); err != nil {
			t.Fatalf("a duplicate Subscribe: %v", err)
		}
		waitState(t, c, connfsm.Alive)
		synctest.Wait()
		for range 3 {
			srv.ResetAll()
			time.Sleep(time.Second)
			synctest.Wait()
			if err := c.SendText(ctx, "hello"); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Unsubscribe(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		srv.ResetAll()
		time.Sleep(time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]string{"a", "c"}, c.Subscriptions()); diff != "" {
			t.Errorf("Subscriptions (-want +got):\n%s", diff)
		}
		want := [][]string{
			{"sub:a", "sub:b", "sub:c"},
			{"sub:a", "sub:b", "sub:c", "hello"},
			{"sub:a", "sub:b", "sub:c", "hello"},
			{"sub:a", "sub:b", "sub:c", "hello", "unsub:b"},
			{"sub:a", "sub:c"},
		}
		if diff := cmp.Diff(want, received(srv)); diff != "" {
			t.Errorf("what each connection received (-want +got):\n%s", diff)
		}
		if got := msgs.list(); len(got) != 0 {
			t.Errorf("OnMessage got %q; acks are taken out of the stream", got)
		}
	})
}

// TestAckThatNeverComes: a subscription whose ack does not come within the
// ack timeout fails on its own, with a *SubscriptionError naming the key
// and matching ErrAckTimeout; the connection stays (no Lost) and becomes
// Ready. With Retry, it goes back to Pending instead, and the next
// connection sends it again, once.
func TestAckThatNeverComes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue("mute", "again", "mute2"))
		var rec recorder
		var subs subRecorder
		again := sub("again")
		again.Retry = true
		c := dialTest(t, srv, &rec, OnRecord(subs.observe), WithAckTimeout(2*time.Second),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}),
			WithSubscriptions(sub("mute"), again, sub("ok")))
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := rec.Count("Alive-Lost->Reconnecting"); n != 0 {
			t.Errorf("%d Lost: a subscription's timeout failed the connection", n)
		}
		if got := c.Phase(); got != connfsm.Ready {
			t.Errorf("phase %v, want Ready", got)
		}
		r, ok := subs.find(fsm.RecordTransition, "mute: Subscribing -AckTimeout-> Failed")
		if !ok {
			t.Fatalf("no ack timeout of mute; subscription steps %q", subs.steps())
		}
		var se *subscription.Error
		if !errors.As(r.Cause, &se) || se.Key != "mute" || !errors.Is(r.Cause, ErrAckTimeout) {
			t.Errorf("cause = %v, want a *SubscriptionError for mute matching ErrAckTimeout", r.Cause)
		}
		if _, ok := subs.find(fsm.RecordTransition, "again: Subscribing -AckTimeout-> Pending"); !ok {
			t.Errorf("again did not go back to Pending; steps %q", subs.steps())
		}
		// A Subscribe while Ready waits for the ack, up to the timeout.
		err := c.Subscribe(context.Background(), sub("mute2"))
		if !errors.Is(err, ErrAckTimeout) || !errors.As(err, &se) || se.Key != "mute2" {
			t.Errorf("Subscribe(mute2) = %v, want a *SubscriptionError for mute2 matching ErrAckTimeout", err)
		}
		srv.ResetAll()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		want := [][]string{
			{"sub:mute", "sub:again", "sub:ok", "sub:mute2"},
			{"sub:again", "sub:ok"}, // mute and mute2 failed for good
		}
		if diff := cmp.Diff(want, received(srv)); diff != "" {
			t.Errorf("what each connection received (-want +got):\n%s", diff)
		}
	})
}

// subRecorder keeps the subscription records an OnRecord observer sees
// (fsmtest.Recorder drops payloads, as observers are told to).
type subRecorder struct {
	mu   sync.Mutex
	recs []*subscription.Record
}

func (r *subRecorder) observe(_ context.Context, rec record) {
	if sr, ok := rec.Payload.(*subscription.Record); ok && rec.Kind == RecordSubscription {
		r.mu.Lock()
		r.recs = append(r.recs, sr)
		r.mu.Unlock()
	}
}

// steps returns the transitions, as "key: From -Event-> To".
func (r *subRecorder) steps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, sr := range r.recs {
		if sr.Kind == fsm.RecordTransition {
			out = append(out, sr.String())
		}
	}
	return out
}

// find returns the first record of kind named name.
func (r *subRecorder) find(kind fsm.RecordKind, name string) (*subscription.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sr := range r.recs {
		if sr.Kind == kind && sr.String() == name {
			return sr, true
		}
	}
	return nil, false
}

// problems returns the rejected subscription events.
func (r *subRecorder) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, sr := range r.recs {
		if sr.Kind == fsm.RecordRejected {
			out = append(out, sr.String())
		}
	}
	return out
}

// everyLimiter lets one wait through per interval, the first at once.
type everyLimiter struct {
	mu    sync.Mutex
	next  time.Time
	every time.Duration
}

func (l *everyLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	at := now
	if l.next.After(now) {
		at = l.next
	}
	l.next = at.Add(l.every)
	l.mu.Unlock()
	t := time.NewTimer(at.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestLimiterPacesEveryWrite: the replay of 20 subscriptions under a limit
// of 5 per second reaches the venue in at least 3.8s and never more than
// 5 in any second; OnConnect's sends and the flush of buffered messages
// are paced too.
func TestLimiterPacesEveryWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		srv.Down()
		var rec recorder
		c := dialTest(t, srv, &rec, WithRateLimit(&everyLimiter{every: 200 * time.Millisecond}),
			WithSendPolicy(SendPolicy{Buffer: 10}),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}),
			OnConnect(func(ctx context.Context, s *Session) error { return s.SendText(ctx, "login") }))
		ctx := context.Background()
		for i := range 20 {
			s := Subscription{Key: fmt.Sprint(i), Message: fmt.Appendf(nil, "sub:%d", i)}
			if err := c.Subscribe(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 10 {
			if err := c.SendText(ctx, fmt.Sprint("buffered ", i)); err != nil {
				t.Fatal(err)
			}
		}
		up(t, srv)
		time.Sleep(time.Minute)
		synctest.Wait()
		conn, ok := srv.Connection(1)
		if !ok || len(conn.Received) != 1+20+10 {
			t.Fatalf("received %d messages, want 31: %q", len(conn.Received), conn.ReceivedText())
		}
		at := make([]time.Time, len(conn.Received))
		for i, m := range conn.Received {
			at[i] = m.At
		}
		if span := at[20].Sub(at[1]); span < 3800*time.Millisecond {
			t.Errorf("20 subscriptions took %v, want at least 3.8s at 5 per second", span)
		}
		for i := range at {
			n := 0
			for j := i; j < len(at) && at[j].Sub(at[i]) < time.Second; j++ {
				n++
			}
			if n > 5 {
				t.Errorf("%d writes within a second from write %d (%q)", n, i, conn.ReceivedText()[i])
			}
		}
		if conn.ReceivedText()[0] != "login" || conn.ReceivedText()[21] != "buffered 0" {
			t.Errorf("order: %q, want login, the subscriptions, then the buffered messages", conn.ReceivedText())
		}
	})
}

// TestReconnect: Reconnect drops the connection and dials again at once,
// spending no retry budget; its wait says so; the subscriptions are
// replayed; where the table ignores it, it does nothing.
func TestReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		var rec recorder
		var waits []*Wait
		var mu sync.Mutex
		// Two attempts in a row may fail: had the reconnects spent any, the
		// reset below would give up.
		c := dialTest(t, srv, &rec, WithBackoff(retry.Backoff{Initial: time.Hour, Max: time.Hour, MaxAttempts: 2}),
			OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
				if r.Kind != fsm.RecordTransition {
					return
				}
				if w, ok := r.Payload.(*Wait); ok {
					mu.Lock()
					waits = append(waits, w)
					mu.Unlock()
				}
			}))
		ctx := context.Background()
		if err := c.Subscribe(ctx, sub("a")); err != nil {
			t.Fatal(err)
		}
		waitState(t, c, connfsm.Alive)
		for range 3 {
			if err := c.Reconnect(ctx); err != nil {
				t.Fatalf("Reconnect: %v", err)
			}
			waitState(t, c, connfsm.Alive)
		}
		if n := len(srv.Connections()); n != 4 {
			t.Errorf("connections = %d, want 4", n)
		}
		mu.Lock()
		for _, w := range waits {
			if w.Reason != retry.WaitReconnect || w.Delay != 0 || w.Failure.Kind != retry.KindReconnect {
				t.Errorf("wait %v, want none, for a reconnect", w)
			}
		}
		mu.Unlock()
		for i, conn := range srv.Connections() {
			if got := conn.ReceivedText(); len(got) == 0 || got[0] != "sub:a" {
				t.Errorf("connection %d received %q, want the subscription first", i+1, got)
			}
		}
		if got := rec.Count("Alive-Reconnect->Reconnecting"); got != 3 {
			t.Errorf("%d reconnects, want 3: %v", got, rec.Phases())
		}

		// A real failure now is the first of the budget: back off (an hour),
		// do not give up. In Reconnecting the table ignores Reconnect.
		srv.Down()
		srv.ResetAll()
		synctest.Wait()
		waitState(t, c, connfsm.Reconnecting)
		if err := c.Reconnect(ctx); err != nil {
			t.Errorf("Reconnect while reconnecting = %v, want nil", err)
		}
		synctest.Wait()
		var ignored bool
		for _, r := range rec.Records() {
			ignored = ignored || r.Kind == fsm.RecordIgnored && r.Event == connfsm.Reconnect && r.From == connfsm.Reconnecting
		}
		if !ignored {
			t.Error("Reconnect while reconnecting was not ignored by the table")
		}
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Reconnect(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Reconnect after Close = %v, want ErrClosed", err)
		}
	})
}

// TestReconnectFromInside: from a handler, Reconnect starts the reconnect
// and returns at once.
func TestReconnectFromInside(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Push(time.Second, func(int) wsconntest.Message { return wsconntest.Text("tick") })))
		var rec recorder
		var once atomic.Bool
		returned := make(chan error, 1)
		c := dialTest(t, srv, &rec, OnMessage(func(ctx context.Context, m transport.Message) {
			if once.CompareAndSwap(false, true) {
				returned <- (*clientOf.Load()).Reconnect(ctx)
			}
		}))
		clientOf.Store(&c)
		if err := <-returned; err != nil {
			t.Errorf("Reconnect from a handler = %v", err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := rec.Count("Alive-Reconnect->Reconnecting"); n != 1 {
			t.Errorf("%d reconnects, want 1", n)
		}
	})
}

var clientOf atomic.Pointer[*Client]

// TestRequest: a request's reply is matched and kept from OnMessage; the
// rest of the stream reaches it; a connection that ends first fails the
// request with ErrNotConnected; ctx bounds the wait.
func TestRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, ackingVenue())
		var rec recorder
		var msgs messages
		c := dialTest(t, srv, &rec, OnMessage(msgs.handle), WithBackoff(retry.Backoff{Initial: time.Hour}))
		waitState(t, c, connfsm.Alive)
		ctx := context.Background()
		m, err := c.Request(ctx, transport.Text, []byte("req:1"), func(m transport.Message) bool { return string(m.Data) == "resp:1" })
		if err != nil || string(m.Data) != "resp:1" {
			t.Fatalf("Request = %q, %v; want resp:1", m.Data, err)
		}
		synctest.Wait()
		if diff := cmp.Diff([]string{"noise"}, msgs.list()); diff != "" {
			t.Errorf("OnMessage got (-want +got):\n%s", diff)
		}
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err = c.Request(short, transport.Text, []byte("req:2"), func(transport.Message) bool { return false })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Request without a reply = %v, want the deadline", err)
		}
		errs := make(chan error, 1)
		go func() {
			_, err := c.Request(ctx, transport.Text, []byte("silent"), func(transport.Message) bool { return false })
			errs <- err
		}()
		synctest.Wait()
		srv.ResetAll()
		if err := <-errs; !errors.Is(err, ErrNotConnected) {
			t.Errorf("Request whose connection failed = %v, want ErrNotConnected", err)
		}
		if _, err := c.Request(ctx, transport.Text, []byte("req:3"), nil); err == nil {
			t.Error("Request with a nil match = nil, want an error")
		}
	})
}

// TestSyncPhases: Client.State says Alive in both phases; Phase and Path
// tell them apart; Close from Syncing closes.
func TestSyncPhases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		release := make(chan struct{})
		c := dialTest(t, srv, &rec, OnConnect(func(ctx context.Context, _ *Session) error {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}))
		synctest.Wait()
		if c.State() != connfsm.Alive || c.Phase() != connfsm.Syncing || c.Path() != "Alive/Syncing" {
			t.Errorf("during OnConnect: %v, %v, %q", c.State(), c.Phase(), c.Path())
		}
		close(release)
		synctest.Wait()
		if c.State() != connfsm.Alive || c.Phase() != connfsm.Ready || c.Path() != "Alive/Ready" {
			t.Errorf("after OnConnect: %v, %v, %q", c.State(), c.Phase(), c.Path())
		}
		if diff := cmp.Diff([]string{"Connecting-Connected->Syncing", "Syncing-Synced->Ready"}, rec.Phases()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		c := dialTest(t, srv, &rec, OnConnect(func(ctx context.Context, _ *Session) error {
			<-ctx.Done()
			return nil
		}))
		synctest.Wait()
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close from Syncing: %v", err)
		}
		want := []string{"Connecting-Connected->Syncing", "Syncing-Close->Closing", "Closing-CloseDone->Closed"}
		if diff := cmp.Diff(want, rec.Phases()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}
