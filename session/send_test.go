package session

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
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

// received returns the messages the venue received, per upgraded
// connection, in order.
func received(srv *wsconntest.Server) [][]string {
	var out [][]string
	for _, c := range srv.Connections() {
		if c.Upgraded {
			out = append(out, c.ReceivedText())
		}
	}
	return out
}

func TestSendFailFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		srv.Down()
		var rec recorder
		c := dialTest(t, srv, &rec)
		waitState(t, c, connfsm.Reconnecting)
		if err := c.SendText(t.Context(), "x"); !errors.Is(err, ErrNotConnected) {
			t.Errorf("Send while Reconnecting = %v, want ErrNotConnected", err)
		}
		if err := c.Send(t.Context(), transport.MessageType(9), nil); err == nil {
			t.Error("Send with a bad message type = nil, want an error")
		}
	})
}

func TestSendBufferInOrderAcrossReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
		var rec recorder
		c := dialTest(t, srv, &rec, WithSendPolicy(SendPolicy{Buffer: 3}),
			WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}))
		waitState(t, c, connfsm.Alive)
		send := func(msg string) error { return c.SendText(t.Context(), msg) }
		if err := send("a"); err != nil {
			t.Fatal(err)
		}
		srv.Down()
		srv.ResetAll()
		waitState(t, c, connfsm.Reconnecting)
		for _, m := range []string{"b", "c", "d"} {
			if err := send(m); err != nil {
				t.Fatalf("buffered send %q: %v", m, err)
			}
		}
		if err := send("e"); !errors.Is(err, ErrBufferFull) {
			t.Errorf("send beyond the buffer = %v, want ErrBufferFull", err)
		}
		up(t, srv)
		waitState(t, c, connfsm.Alive)
		if err := send("f"); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		want := [][]string{{"a"}, {"b", "c", "d", "f"}}
		if diff := cmp.Diff(want, received(srv)); diff != "" {
			t.Errorf("received per connection (-want +got):\n%s", diff)
		}
	})
}

// TestSendBufferBoundedByBytes: the buffer keeps at most BufferBytes of
// payload: a message that would pass it is refused with ErrBufferFull (one
// larger than the whole buffer too), nothing kept is lost, and flushing
// frees the room.
func TestSendBufferBoundedByBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
		srv.Down()
		var rec recorder
		c := dialTest(t, srv, &rec, WithSendPolicy(SendPolicy{Buffer: 10, BufferBytes: 100}),
			WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}))
		msg := func(b byte, n int) string { return strings.Repeat(string(b), n) }
		steps := []struct {
			msg  string
			full bool
		}{
			{msg('a', 60), false},
			{msg('b', 50), true}, // 110 > 100
			{msg('c', 40), false},
			{msg('d', 1), true}, // 101 > 100
		}
		for _, st := range steps {
			err := c.SendText(t.Context(), st.msg)
			if got := errors.Is(err, ErrBufferFull); got != st.full {
				t.Fatalf("send of %d bytes = %v, want full %v", len(st.msg), err, st.full)
			}
		}
		up(t, srv)
		waitState(t, c, connfsm.Alive)
		srv.Down()
		srv.ResetAll()
		waitState(t, c, connfsm.Reconnecting)
		// Flushed: the room is back, but no single message above it fits.
		if err := c.SendText(t.Context(), msg('e', 100)); err != nil {
			t.Errorf("send of 100 bytes into the emptied buffer = %v", err)
		}
		if err := c.SendText(t.Context(), ""); err != nil {
			t.Errorf("send of 0 bytes into a full byte budget = %v", err)
		}
		up(t, srv)
		waitState(t, c, connfsm.Alive)
		if err := c.SendText(t.Context(), msg('f', 101)); err != nil {
			t.Errorf("send while Alive is not bounded by the buffer: %v", err)
		}
		if err := c.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		want := [][]string{{msg('a', 60), msg('c', 40)}, {msg('e', 100), "", msg('f', 101)}}
		if diff := cmp.Diff(want, received(srv)); diff != "" {
			t.Errorf("received per connection (-want +got):\n%s", diff)
		}
		if err := c.SendText(t.Context(), ""); !errors.Is(err, ErrClosed) {
			t.Errorf("send after Close = %v", err)
		}
	})
	c, err := dialWS(context.Background(), validURL, WithHTTPClient(offlineClient()), NoWait(),
		WithSendPolicy(SendPolicy{Buffer: 1, BufferBytes: 10}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := c.SendText(context.Background(), strings.Repeat("x", 11)); !errors.Is(err, ErrBufferFull) {
		t.Errorf("a message larger than the whole buffer = %v, want ErrBufferFull", err)
	}
}

func TestBufferedMessagesUnsentAtCloseAreReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		srv.Down()
		var rec recorder
		c := dialTest(t, srv, &rec, WithSendPolicy(SendPolicy{Buffer: 10}))
		waitState(t, c, connfsm.Reconnecting)
		for i := range 2 {
			if err := c.SendText(t.Context(), fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		err := c.Close(t.Context())
		if !errors.Is(err, ErrUnsent) {
			t.Errorf("Close = %v, want ErrUnsent", err)
		}
		if st := c.Stats(); st.Unsent != 2 {
			t.Errorf("Stats.Unsent = %d, want 2", st.Unsent)
		}
	})
}

func TestSendsRacingCloseAreWrittenOrReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
		var rec recorder
		c := dialTest(t, srv, &rec)
		waitState(t, c, connfsm.Alive)
		var ok, failed atomic.Int64
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 20 {
					if err := c.SendText(context.Background(), fmt.Sprint(g, "-", i)); err != nil {
						if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrNotConnected) {
							t.Errorf("send error %v, want ErrClosed or ErrNotConnected", err)
						}
						failed.Add(1)
					} else {
						ok.Add(1)
					}
					time.Sleep(time.Millisecond)
				}
			})
		}
		time.Sleep(5 * time.Millisecond)
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
		got := 0
		for _, msgs := range received(srv) {
			got += len(msgs)
		}
		if int64(got) != ok.Load() || ok.Load()+failed.Load() != 160 {
			t.Errorf("server received %d; sends ok %d, failed %d; want received == ok and ok+failed == 160", got, ok.Load(), failed.Load())
		}
		if ok.Load() == 0 || failed.Load() == 0 {
			t.Errorf("ok %d, failed %d: the race did not happen, adjust the timing", ok.Load(), failed.Load())
		}
	})
}

// blockingLimiter never grants a token until ctx ends.
type blockingLimiter struct{ waiting chan struct{} }

func (l blockingLimiter) Wait(ctx context.Context) error {
	close(l.waiting)
	<-ctx.Done()
	return ctx.Err()
}

func TestSendWaitingOnRateLimitFailsAtClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		lim := blockingLimiter{waiting: make(chan struct{})}
		c := dialTest(t, srv, &rec, WithRateLimit(lim))
		waitState(t, c, connfsm.Alive)
		res := make(chan error)
		go func() { res <- c.SendText(context.Background(), "x") }()
		<-lim.waiting
		if err := c.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := <-res; !errors.Is(err, ErrClosed) {
			t.Errorf("send waiting on the limiter = %v, want ErrClosed", err)
		}
	})
}

// TestSendWaitingOnRateLimitFailsWhenClosingStarts: a Send waiting for
// the rate limiter fails with ErrClosed as soon as the lifecycle enters
// Closing, not once the close handshake is over: here the peer never
// answers the close frame, and Closing lasts the close timeout.
func TestSendWaitingOnRateLimitFailsWhenClosingStarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		lim := blockingLimiter{waiting: make(chan struct{})}
		c := dialTest(t, srv, &rec, WithRateLimit(lim), WithCloseTimeout(10*time.Second))
		waitState(t, c, connfsm.Alive)
		res := make(chan error)
		go func() { res <- c.SendText(context.Background(), "x") }()
		<-lim.waiting
		srv.Blackhole(true)
		for _, conn := range srv.Conns() {
			conn.Blackhole(true)
		}
		closed := make(chan error, 1)
		go func() { closed <- c.Close(context.Background()) }()
		err := <-res
		if !errors.Is(err, ErrClosed) {
			t.Errorf("send waiting on the limiter = %v, want ErrClosed", err)
		}
		if st := c.State(); st != connfsm.Closing {
			t.Errorf("the send failed in %v, want while Closing: the handshake is under way", st)
		}
		<-closed
	})
}

// TestRequestFailsWhenAliveIsLeft: a Request waiting for its reply fails
// as soon as its connection's Alive is left for Closing, while the
// connection itself is still open for the close handshake (here the peer
// never answers the close frame). Its error matches ErrClosed, as Request
// documents for a client that closes, and ErrNotConnected, as for a
// connection that ends before the reply.
func TestRequestFailsWhenAliveIsLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		var rec recorder
		c := dialTest(t, srv, &rec, WithCloseTimeout(10*time.Second))
		waitPhase(t, c, connfsm.Ready)
		res := make(chan error)
		go func() {
			_, err := c.Request(context.Background(), transport.Text, []byte("silent"), func(transport.Message) bool { return false })
			res <- err
		}()
		synctest.Wait()
		for _, conn := range srv.Conns() {
			conn.Blackhole(true)
		}
		closed := make(chan error, 1)
		go func() { closed <- c.Close(context.Background()) }()
		err := <-res
		if !errors.Is(err, ErrNotConnected) || !errors.Is(err, ErrClosed) {
			t.Errorf("request waiting for its reply = %v, want ErrClosed and ErrNotConnected", err)
		}
		if st := c.State(); st != connfsm.Closing {
			t.Errorf("the request failed in %v, want while Closing: the handshake is under way", st)
		}
		<-closed
	})
}

// TestSendWaitsForOnConnect: while the connection syncs, Client.Send from
// outside waits for Ready; from inside OnConnect it writes at once, after
// what OnConnect wrote before it.
func TestSendWaitsForOnConnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
		var rec recorder
		release := make(chan struct{})
		insideErr := make(chan error, 1)
		var c *Client
		client := make(chan *Client, 1)
		c = dialTest(t, srv, &rec, OnConnect(func(ctx context.Context, sess *Session) error {
			if err := sess.SendText(ctx, "subscribe"); err != nil {
				return err
			}
			// From inside, Client.Send must not wait for the Ready the sync
			// itself leads to: it writes at once.
			insideErr <- (<-client).SendText(ctx, "from inside")
			<-release
			return nil
		}))
		client <- c
		if err := <-insideErr; err != nil {
			t.Errorf("Client.Send inside OnConnect = %v, want nil", err)
		}
		waitState(t, c, connfsm.Alive)
		sent := make(chan error)
		go func() { sent <- c.SendText(context.Background(), "after OnConnect") }()
		synctest.Wait()
		select {
		case err := <-sent:
			t.Fatalf("Send returned %v before OnConnect finished, want it to wait", err)
		default:
		}
		close(release)
		if err := <-sent; err != nil {
			t.Fatalf("Send after the release: %v", err)
		}
		if err := c.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([][]string{{"subscribe", "from inside", "after OnConnect"}}, received(srv)); diff != "" {
			t.Errorf("received (-want +got):\n%s", diff)
		}
	})
}

// TestCloseDuringOnConnectFlushesTheBuffer: messages buffered while
// disconnected are accepted; a Close that comes while OnConnect runs on
// the new connection writes them, in order, before the close frame.
func TestCloseDuringOnConnectFlushesTheBuffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Discard()))
		srv.Down()
		inOnConnect := make(chan struct{})
		var rec recorder
		c := dialTest(t, srv, &rec, WithSendPolicy(SendPolicy{Buffer: 3}),
			WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}),
			OnConnect(func(ctx context.Context, _ *Session) error {
				close(inOnConnect)
				<-ctx.Done() // a resubscription waiting for its answer
				return ctx.Err()
			}))
		waitState(t, c, connfsm.Reconnecting)
		for _, m := range []string{"a", "b", "c"} {
			if err := c.SendText(t.Context(), m); err != nil {
				t.Fatalf("buffered send %q: %v", m, err)
			}
		}
		up(t, srv)
		<-inOnConnect
		if err := c.Close(t.Context()); err != nil {
			t.Errorf("Close = %v, want nil: every accepted message written", err)
		}
		synctest.Wait()
		if diff := cmp.Diff([][]string{{"a", "b", "c"}}, received(srv)); diff != "" {
			t.Errorf("received per connection (-want +got):\n%s", diff)
		}
		if st := c.Stats(); st.Unsent != 0 || st.MessagesOut != 3 {
			t.Errorf("Stats = %+v, want 3 out, 0 unsent", st)
		}
		want := []string{"Connecting-DialFailed->Reconnecting", "Reconnecting-RetryDue->Connecting",
			"Connecting-Connected->Alive", "Alive-Close->Closing", "Closing-CloseDone->Closed"}
		if diff := cmp.Diff(want, rec.Transitions()); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
	})
}

// statsLimiter grants every token at once; on its first Wait while the
// client syncs (the flush of the buffer waiting its turn) it asks for
// Stats on another goroutine and records what came back, if it came while
// the flush still waited.
type statsLimiter struct {
	c    atomic.Pointer[Client]
	once sync.Once
	got  chan Stats // one slot: the snapshot, if Stats returned in time
}

func (l *statsLimiter) Wait(context.Context) error {
	c := l.c.Load()
	if c == nil || c.Phase() != connfsm.Syncing {
		return nil
	}
	l.once.Do(func() {
		done := make(chan Stats, 1)
		go func() { done <- c.Stats() }()
		// No clock: Stats takes no lock a flush holds, so it returns
		// while the flush waits here; give it every chance to run.
		for range 100000 {
			select {
			case st := <-done:
				l.got <- st
				return
			default:
				runtime.Gosched()
			}
		}
	})
	return nil
}

// TestStatsDuringPacedFlush: Stats, a metrics scrape, does not wait for
// the flush of the buffered messages, which waits on the rate limiter
// between writes (seconds, for a slow venue limit), and it counts what is
// still buffered.
func TestStatsDuringPacedFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		srv.Down()
		var rec recorder
		lim := &statsLimiter{got: make(chan Stats, 1)}
		c := dialTest(t, srv, &rec, WithSendPolicy(SendPolicy{Buffer: 10}), WithRateLimit(lim),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}))
		for i := range 3 {
			if err := c.SendText(context.Background(), fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		if st := c.Stats(); st.Buffered != 3 {
			t.Errorf("Buffered = %d before the flush, want 3", st.Buffered)
		}
		lim.c.Store(c)
		up(t, srv)
		waitPhase(t, c, connfsm.Ready)
		select {
		case st := <-lim.got:
			if st.Buffered != 3 {
				t.Errorf("Buffered = %d while the flush waited for its first write, want 3", st.Buffered)
			}
		default:
			t.Fatal("Stats did not return while the flush waited on the rate limiter")
		}
		if st := c.Stats(); st.Buffered != 0 || st.MessagesOut != 3 {
			t.Errorf("after the flush: Buffered %d, MessagesOut %d; want 0, 3", st.Buffered, st.MessagesOut)
		}
	})
}
