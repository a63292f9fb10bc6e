package session

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// These tests pin what testing the client as a hostile user found, each
// seen failing on the client before the lifecycle's venue session.

// TestDeadConnectionLostWhileHandlerRuns: a connection reset while a slow
// handler (one that honours its ctx) runs is Lost within ping interval +
// pong timeout, not when the handler is done a minute later.
func TestDeadConnectionLostWhileHandlerRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Push(time.Second, func(int) wsconntest.Message { return wsconntest.Text("x") })))
		var rec recorder
		inHandler := make(chan struct{}, 1)
		c := dialTest(t, srv, &rec, WithHeartbeat(time.Second, time.Second), WithBackoff(retry.Backoff{Initial: time.Hour}),
			OnMessage(func(ctx context.Context, _ transport.Message) {
				select {
				case inHandler <- struct{}{}:
				default:
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Minute):
				}
			}))
		<-inHandler
		resetAt := time.Now()
		srv.ResetAll()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		r, ok := rec.Nth("Alive-Lost->Reconnecting", 1)
		if !ok {
			t.Fatalf("no Lost 3s after the reset; state %v", c.State())
		}
		if d := r.When.Sub(resetAt); d > 2*time.Second {
			t.Errorf("Lost %v after the reset, want within interval + timeout (2s)", d)
		}
	})
}

// TestSendWithDoneContext: a Send whose ctx is already done fails alone,
// before the socket is touched: the connection stays up.
func TestSendWithDoneContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		c := dialTest(t, srv, &rec)
		waitState(t, c, connfsm.Alive)
		synctest.Wait()
		done, cancel := context.WithCancel(context.Background())
		cancel()
		for i := range 32 {
			if err := c.SendText(done, fmt.Sprint(i)); !errors.Is(err, context.Canceled) {
				t.Errorf("Send %d with a done ctx = %v, want context.Canceled", i, err)
			}
		}
		synctest.Wait()
		if n := rec.Count("Alive-Lost->Reconnecting"); n != 0 || len(srv.Connections()) != 1 {
			t.Errorf("%d losses, %d connections; want the one connection untouched", n, len(srv.Connections()))
		}
		if err := c.SendText(context.Background(), "after"); err != nil {
			t.Errorf("Send after: %v", err)
		}
	})
}

// TestCloseDuringFlushWritesEverything: a Close while the buffered
// messages are being flushed to a slow reader writes them all before the
// close frame, within the close timeout.
func TestCloseDuringFlushWritesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.OnMessage(func(*wsconntest.Conn, wsconntest.Message) bool {
			time.Sleep(100 * time.Millisecond) // a slow reader: nothing else is read meanwhile
			return true
		})))
		srv.Down()
		var rec recorder
		syncing := make(chan struct{})
		c := dialTest(t, srv, &rec, WithSendPolicy(SendPolicy{Buffer: 20}),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}),
			OnConnect(func(context.Context, *Session) error { close(syncing); return nil }))
		payload := make([]byte, 256<<10)
		for i := range 20 {
			payload[0] = byte(i)
			if err := c.Send(context.Background(), transport.Binary, payload); err != nil {
				t.Fatal(err)
			}
		}
		up(t, srv)
		<-syncing
		time.Sleep(250 * time.Millisecond) // the flush is under way
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close = %v, want nil: every message written", err)
		}
		conn, _ := srv.Connection(1)
		if len(conn.Received) != 20 {
			t.Fatalf("venue received %d messages, want 20", len(conn.Received))
		}
		for i, m := range conn.Received {
			if m.Data[0] != byte(i) {
				t.Errorf("message %d is #%d: out of order", i, m.Data[0])
			}
		}
		if _, ok := conn.CloseFrom(wsconntest.FromClient); !ok {
			t.Error("no close frame after the messages")
		}
	})
}

// TestHandlerCallsNeverOverlap: a handler that ignores its ctx past the
// join timeout is left behind when its connection is lost; the next
// connection's handler calls wait for it, never running alongside.
func TestHandlerCallsNeverOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Push(time.Second, func(int) wsconntest.Message { return wsconntest.Text("x") })))
		var rec recorder
		var running, most, calls atomic.Int32
		// Not dialTest: the handler left behind is a straggler, on purpose.
		c, err := dialWS(t.Context(), "ws://feed.test/", WithHTTPClient(srv.Client()), OnRecord(rec.Observe), NoWait(),
			WithHeartbeat(time.Second, time.Second),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}),
			OnMessage(func(context.Context, transport.Message) {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				if calls.Add(1) == 1 {
					time.Sleep(20 * time.Second) // ignores its ctx, past the join timeout
				}
				running.Add(-1)
			}))
		if err != nil {
			t.Fatal(err)
		}
		// The venue goes silent: the heartbeat finds it dead (the handler
		// holds no message back), and the handler stuck in its first call
		// is left behind once the join times out.
		time.Sleep(1500 * time.Millisecond)
		srv.Blackhole(true)
		time.Sleep(3 * time.Second)
		srv.Blackhole(false)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if n := most.Load(); n != 1 {
			t.Errorf("%d handler calls ran at once, want 1", n)
		}
		if calls.Load() < 5 || len(srv.Connections()) < 2 {
			t.Errorf("%d calls over %d connections: the test exercised nothing", calls.Load(), len(srv.Connections()))
		}
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// TestFlushIsPaced: messages buffered while disconnected go through the
// rate limiter on the next connection, not all at once.
func TestFlushIsPaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		srv.Down()
		var rec recorder
		c := dialTest(t, srv, &rec, WithSendPolicy(SendPolicy{Buffer: 10}),
			WithRateLimit(&everyLimiter{every: 100 * time.Millisecond}),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}))
		for i := range 10 {
			if err := c.SendText(context.Background(), fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		up(t, srv)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		conn, _ := srv.Connection(1)
		if len(conn.Received) != 10 {
			t.Fatalf("received %d, want 10", len(conn.Received))
		}
		for i := 1; i < 10; i++ {
			if gap := conn.Received[i].At.Sub(conn.Received[i-1].At); gap < 100*time.Millisecond {
				t.Errorf("message %d came %v after the one before, want >= 100ms (1 per 100ms)", i, gap)
			}
		}
	})
}

// TestSendFromHandlerWhileSyncing: a Send with OnMessage's ctx while
// OnConnect runs waits for Ready, as the docs say, instead of failing with
// ErrNotConnected.
func TestSendFromHandlerWhileSyncing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Func(func(ctx context.Context, vc *wsconntest.Conn) {
			_ = vc.SendText(ctx, "welcome")
			<-ctx.Done()
		})))
		var rec recorder
		release := make(chan struct{})
		sent := make(chan error, 1)
		var client atomic.Pointer[Client]
		stored := make(chan struct{}) // the handler may run before Dial's caller goes on
		c := dialTest(t, srv, &rec,
			OnConnect(func(ctx context.Context, _ *Session) error {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			}),
			OnMessage(func(ctx context.Context, m transport.Message) {
				<-stored
				sent <- client.Load().SendText(ctx, "reply to "+string(m.Data))
			}))
		client.Store(c)
		close(stored)
		time.Sleep(time.Second)
		select {
		case err := <-sent:
			t.Fatalf("Send from the handler returned %v while syncing, want it to wait", err)
		default:
		}
		close(release)
		if err := <-sent; err != nil {
			t.Errorf("Send from the handler = %v, want nil once Ready", err)
		}
		synctest.Wait()
		if diff := cmp.Diff([][]string{{"reply to welcome"}}, received(srv)); diff != "" {
			t.Errorf("received (-want +got):\n%s", diff)
		}
	})
}
